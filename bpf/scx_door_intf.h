/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * scx_door_intf.h — the one interface shared by the scx_door BPF scheduler
 * and userspace (libdoor and the scx_door loader).
 *
 * Everything here is fixed-width with explicit padding; sizes are pinned with
 * static asserts on both sides. Change a layout => bump SCX_DOOR_INTF_VERSION.
 *
 * The handoff protocol (see bpf/scx_door.bpf.c for the policy):
 *   every door thread owns one `struct scx_door_intent` in its own memory.
 *   Just before the FUTEX_WAKE that starts a call (or returns a reply)
 *   libdoor stores {state, target} there with plain stores: no syscall.
 *   The scheduler, in ops.select_cpu() running in the waker's context, reads
 *   the waker's record and honours it only if `target` is the token of the
 *   task being woken. A forged record can therefore only misplace a wake-up
 *   of the forger's own partner, never someone else's task.
 */
#ifndef SCX_DOOR_INTF_H
#define SCX_DOOR_INTF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SCX_DOOR_INTF_VERSION 2u
#define SCX_DOOR_INTENT_MAGIC 0x444f4f52u /* "DOOR" */

/** What the thread that writes the record is about to do. */
enum scx_door_intent_state {
	SCX_DOOR_IDLE = 0,          /**< no handoff wanted */
	SCX_DOOR_CALLING = 1,       /**< caller: woke `target` (server), will block */
	SCX_DOOR_REPLY_BLOCK = 2,   /**< server: woke `target` (caller), will block */
	SCX_DOOR_REPLY_CONTINUE = 3,/**< server: woke `target`, keeps running */
};

/** Per-thread handoff intent, written by libdoor, read by BPF. */
struct scx_door_intent {
	__u32 magic;   /**< SCX_DOOR_INTENT_MAGIC while the record is live */
	__u32 state;   /**< enum scx_door_intent_state */
	__u64 target;  /**< token of the partner about to be woken */
	__u64 self;    /**< this thread's own token (0: unregistered) */
	__u64 seq;     /**< incremented on every write */
};

#ifdef __cplusplus
static_assert(sizeof(struct scx_door_intent) == 32, "intent layout pinned");
#elif !defined(__VMLINUX_H__)
_Static_assert(sizeof(struct scx_door_intent) == 32, "intent layout pinned");
#endif

/* ------------------------------------------------------------------------
 * Registration protocol (added by the scheduler side; the intent layout
 * above is unchanged).
 *
 * scx_door (root) listens on SCX_DOOR_SOCK_PATH, an AF_UNIX SOCK_SEQPACKET
 * socket of mode 0666. A door thread registers itself once:
 *   1. pidfd = pidfd_open(gettid(), PIDFD_THREAD)
 *   2. sendmsg(struct scx_door_reg_req) with SCM_RIGHTS{pidfd} and
 *      SCM_CREDENTIALS (the daemon sets SO_PASSCRED, so the kernel attaches
 *      the sender's verified pid/uid even if the client does not).
 *   3. recv(struct scx_door_reg_resp): status 0 and a token, or -errno.
 * The daemon checks that the pidfd names a thread of the sending process
 * (no one can register someone else's thread), then stores
 * {intent_addr, token} in the BPF task storage of that thread. The token is
 * random and unguessable; the thread publishes it only to its door partners.
 * ------------------------------------------------------------------------ */
#define SCX_DOOR_SOCK_PATH "/run/scx_door.sock"
/** sched_ext ops name: /sys/kernel/sched_ext/root/ops reads this. */
#define SCX_DOOR_OPS_NAME "door"
/** bpffs directory where the registration map is pinned across reloads. */
#define SCX_DOOR_PIN_DIR "/sys/fs/bpf/scx_door"
#define SCX_DOOR_PIN_TASK_CTX SCX_DOOR_PIN_DIR "/task_ctx"

#define SCX_DOOR_REG_MAGIC 0x52474453u /* "SDGR" */
#define SCX_DOOR_REG_VERSION 1u

/** Response flag: the scheduler runs in partial mode; the thread must opt in
 *  with sched_setattr(SCHED_EXT) to be scheduled (and handed off) by it. */
#define SCX_DOOR_REG_F_PARTIAL 0x1u
/** sched_ext_ops.flags bit SCX_OPS_SWITCH_PARTIAL (for userspace). */
#define SCX_DOOR_OPS_SWITCH_PARTIAL (1ULL << 3)
/** sched_setattr policy number of SCHED_EXT. */
#define SCX_DOOR_SCHED_EXT 7

/** Client -> daemon. */
struct scx_door_reg_req {
	__u32 magic;       /**< SCX_DOOR_REG_MAGIC */
	__u32 version;     /**< SCX_DOOR_REG_VERSION */
	__u32 size;        /**< sizeof(struct scx_door_reg_req) */
	__s32 tid;         /**< gettid() in the client's namespace (logging) */
	__u64 intent_addr; /**< user address of this thread's scx_door_intent */
};

/** Daemon -> client. */
struct scx_door_reg_resp {
	__u32 magic;   /**< SCX_DOOR_REG_MAGIC */
	__u32 version; /**< SCX_DOOR_REG_VERSION */
	__s32 status;  /**< 0, or -errno */
	__u32 flags;   /**< SCX_DOOR_REG_F_* */
	__u64 token;   /**< the thread's token (intent.self) */
};

/** Value of the BPF task storage: one per registered thread. */
struct scx_door_task_ctx {
	__u64 intent_addr; /**< user address of the thread's intent record */
	__u64 token;       /**< its token; 0: not registered */
	__u32 tgid;        /**< registering process (root pid namespace) */
	__u32 charge_to;   /**< BPF: server handed a call: the caller's pid, whose
	                        vtime pays for this thread's run time; 0: itself */
	__u64 owed_ns;     /**< BPF: caller: run time its servers used for it,
	                        added to its own vtime when it next stops */
};

/** Exit info copied by ops.exit for the loader (UEI-style). */
struct scx_door_uei {
	__s32 kind;      /**< enum scx_exit_kind; written last, 0 while running */
	__s32 exit_cpu;
	__s64 exit_code;
	char reason[128];
	char msg[1024];
};

/** Indices of the per-CPU stats array (BPF) and the --stats line. */
enum scx_door_stat {
	SCX_DOOR_STAT_WAKEUPS = 0,   /**< select_cpu calls */
	SCX_DOOR_STAT_HANDOFF,       /**< wakee handed the waker's CPU */
	SCX_DOOR_STAT_NO_INTENT,     /**< registered waker, record idle/invalid */
	SCX_DOOR_STAT_READ_FAULT,    /**< intent record not readable */
	SCX_DOOR_STAT_TARGET_MISMATCH, /**< wakee is a door thread, but not the target */
	SCX_DOOR_STAT_OTHER_WAKEE,   /**< intent set, wakee not a door thread (e.g. an
	                                  IRQ woke a kworker during the window) */
	SCX_DOOR_STAT_AFFINITY,      /**< waker's CPU not allowed for the wakee */
	SCX_DOOR_STAT_EXITING,       /**< waker is exiting */
	SCX_DOOR_STAT_OVERLOADED,    /**< waker's local DSQ already busy */
	SCX_DOOR_STAT_CONTINUE,      /**< REPLY_CONTINUE: normal placement */
	SCX_DOOR_STAT_SAFETY_KICK,   /**< rendezvous: safety net preempted a waker */
	SCX_DOOR_STAT_DIRECT_IDLE,   /**< non-door wake-up dispatched to an idle CPU */
	SCX_DOOR_STAT_ENQUEUED,      /**< tasks queued on the shared vtime DSQ */
	SCX_DOOR_STAT_REGISTERED,    /**< registrations accepted (loader-side) */
	SCX_DOOR_STAT_REG_REJECTED,  /**< registrations refused (loader-side) */
	SCX_DOOR_STAT_FAIRNESS,      /**< shared DSQ starved for a slice: no handoff */
	SCX_DOOR_STAT_SWAP_REQUEUE,  /**< swap mode: preempted wakers requeued locally */
	SCX_DOOR_STAT_CHARGED,       /**< server run periods charged to their caller */
	SCX_DOOR_STAT_CHARGED_US,    /**< microseconds of server run time so charged */
	SCX_DOOR_NR_STATS,
};

#ifdef __cplusplus
static_assert(sizeof(struct scx_door_reg_req) == 24, "reg req layout pinned");
static_assert(sizeof(struct scx_door_reg_resp) == 24, "reg resp layout pinned");
static_assert(sizeof(struct scx_door_task_ctx) == 32, "task ctx layout pinned");
#elif !defined(__VMLINUX_H__)
_Static_assert(sizeof(struct scx_door_reg_req) == 24, "reg req layout pinned");
_Static_assert(sizeof(struct scx_door_reg_resp) == 24, "reg resp layout pinned");
_Static_assert(sizeof(struct scx_door_task_ctx) == 32, "task ctx layout pinned");
#endif

#endif /* SCX_DOOR_INTF_H */
