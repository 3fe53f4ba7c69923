/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_door.bpf.c — a sched_ext scheduler with a door-call CPU handoff.
 *
 * POLICY
 *
 * Base scheduler. A weighted-vtime scheduler in the style of scx_simple: one
 * shared vtime-ordered DSQ, slices of `slice_ns`, a task's vtime advances by
 * the time it ran scaled by 100/weight, and a sleeper's vtime is clamped to
 * at most one slice behind the global clock so it cannot bank credit. A
 * wake-up that finds an idle CPU (scx_bpf_select_cpu_dfl) is dispatched
 * straight to that CPU's local DSQ. This keeps unrelated tasks close to
 * EEVDF behaviour on small machines; it is not meant to beat EEVDF on big
 * NUMA boxes.
 *
 * Door handoff. libdoor writes an intent record {state, target} into the
 * waking thread's own memory right before the FUTEX_WAKE that starts a call
 * (CALLING) or returns a reply (REPLY_BLOCK). ops.select_cpu() runs in the
 * waker's context, so `current` is the waker: we look up its registration
 * (task storage, written by the scx_door daemon), read its record with
 * bpf_probe_read_user() and honour it only if ALL of these hold:
 *   - the record is live (magic) and belongs to this thread (self == token),
 *   - state is CALLING or REPLY_BLOCK (the waker promises to block),
 *   - target == the wakee's registered token (tokens are random and known
 *     only to door partners, so a forged record can only misplace a wake-up
 *     of the forger's own partner),
 *   - the waker is not exiting,
 *   - the waker's CPU is in the wakee's cpumask,
 *   - the waker's local DSQ holds fewer than `local_max` tasks,
 *   - fairness: no task has been waiting on the shared DSQ while this CPU
 *     went a whole slice without dispatching from it (handoff chains
 *     bypass the vtime queue; this bounds how long they can).
 * Then the wakee goes to the waker's local DSQ and select_cpu returns the
 * waker's CPU: no IPI, no idle wake-up, no migration of the caller.
 * door_return is symmetric (REPLY_BLOCK). Two ways to switch:
 *
 * Swap (design c2, the default). The wakee is inserted with SCX_ENQ_PREEMPT,
 * so the waker yields as soon as it leaves the FUTEX_WAKE syscall, as a
 * Solaris caller's shuttle switches to the server; ops.enqueue puts the
 * preempted waker right behind the wakee in the same local DSQ. When the
 * caller runs again its reply is usually there: it skips its FUTEX_WAIT and
 * the server skips the reply's FUTEX_WAKE, so a round trip costs one wake
 * and one wait instead of two of each. Robust by construction: the wakee
 * cannot be stranded, so no timer is needed. Measured faster than
 * rendezvous in every VM configuration (scx_door/README.md).
 *
 * Rendezvous (design c1, scx_door --rendezvous). The wakee is inserted at
 * the HEAD of the local DSQ without preemption and runs when the waker
 * blocks a moment later. A waker that does not block (signal, bug, a lying
 * record) would strand the wakee behind it until the tick sees the slice
 * expire (the notes measured 20 ms). Two bounds: the waker's slice is
 * clamped to `handoff_bound_ns`, and a per-CPU BPF timer pinned to the
 * waker's CPU checks `handoff_bound_ns` later whether the wakee has started
 * running; if not it preempts the waker with SCX_KICK_PREEMPT (counted as
 * safety_kick). The timer is armed only when not already armed, so a steady
 * stream of handoffs costs one timer expiry per bound period, not one per
 * call.
 *
 * Charging. A handed-off server thread works for its caller, as a Solaris
 * server thread runs on the caller's shuttle: from the CALLING handoff (in
 * swap mode also from the REPLY_BLOCK handoff that preempts it, since it
 * next runs to serve that caller's next call) until it blocks again, its
 * run time is added to the caller's vtime, not its own
 * (owed_ns in the caller's task storage, folded into the caller's vtime in
 * the caller's own ops.stopping, never while it sits in a vtime DSQ). A
 * client cannot make its calls free by spreading them over server threads,
 * and a server serving many clients is not pushed back by their demand.
 * A call whose handoff is declined (affinity, overload, fairness) is
 * charged the same way, and its server queues at the caller's vtime when
 * that is later than its own: a server's own vtime hardly moves, and it
 * would otherwise jump ahead of every task in the shared queue (measured:
 * a CPU hog beside two swap-mode door pairs fell to 8% of its solo rate).
 *
 * Every fallback is counted by reason in a per-CPU stats array (see
 * enum scx_door_stat in scx_door_intf.h) and falls through to the base policy.
 *
 * Full vs partial. The default is FULL mode: every task is scheduled by
 * scx_door. In partial mode (SCX_OPS_SWITCH_PARTIAL, scx_door --partial)
 * door threads opt in with SCHED_EXT at registration, but the kernel orders
 * fair above ext, so any runnable CFS/EEVDF task on the waker's CPU runs
 * before the handed-off server: the handoff degrades exactly when the
 * machine is busy, and door threads get only the ext DL server's share under
 * load. Full mode keeps the guarantee "the server runs next on the caller's
 * CPU"; partial mode is offered for machines where unrelated tasks must stay
 * bit-for-bit on EEVDF.
 *
 * Exit info (kind, code, reason, msg) is copied to `uei` in ops.exit for the
 * loader, which prints `EXIT: reason (msg)`; a ring-buffer record wakes the
 * loader up at once (it never polls periodically). Two debug knobs test the
 * paths out: `debug_error_after` makes the scheduler call scx_bpf_error()
 * after N wake-ups, and `debug_stall_tgid` parks every task of one process
 * in a DSQ nothing consumes, so the kernel's watchdog must eject the
 * scheduler for a runnable task stall.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "scx_door_intf.h"

char _license[] SEC("license") = "GPL";

#define MAX_CPUS 1024
#define SHARED_DSQ 0
#define STALL_DSQ 1	/* debug_stall_tgid's tasks: never dispatched */
#define PF_EXITING 0x00000004
#define CLOCK_MONOTONIC 1

/* Tunables, set by the loader before load (__u* types: the skeleton is
 * compiled in userspace, where vmlinux.h's u64 does not exist). */
const volatile __u64 slice_ns = 5000000ULL;         /* 5 ms */
const volatile __u64 handoff_bound_ns = 250000ULL;  /* 250 us */
const volatile __u32 local_max = 2;
const volatile __u32 handoff_enabled = 1;
const volatile __u32 handoff_swap = 1;              /* 0: rendezvous (c1) */
const volatile __u64 debug_error_after = 0;
const volatile __u32 debug_stall_tgid = 0;

/* Exit info for the loader (UEI-style), see scx_door_intf.h. */
struct scx_door_uei uei;

__u64 vtime_now;
__u64 nr_wakeups_total;

/* ops.exit posts one record here so the loader wakes up at once (poll). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} exit_rb SEC(".maps");

/* Registrations: written by the daemon through a pidfd, pinned across reloads. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct scx_door_task_ctx);
} task_ctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u64));
	__uint(max_entries, SCX_DOOR_NR_STATS);
} stats SEC(".maps");

/* Per-CPU handoff safety net. Only touched on its own CPU (select_cpu and
 * running with IRQs off, the timer callback pinned there), so no locking. */
struct cpu_ctx {
	struct bpf_timer timer;
	u64 pending_pid;  /* wakee handed off on this CPU, not yet running */
	u64 swap_pid;     /* swap mode: waker preempted by its handoff */
	u64 last_dispatch; /* last time this CPU consulted the shared DSQ */
	u64 handoff_at;   /* when (bpf_ktime_get_ns) */
	u64 run_pid;      /* the task running here, and its */
	u64 run_exec;     /* se.sum_exec_runtime when it started */
	u32 armed;
	u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

#define scx_bpf_error(fmt, args...)                                         \
	do {                                                                \
		static char ___fmt[] = fmt;                                 \
		unsigned long long ___param[] = { args };                   \
		scx_bpf_error_bstr(___fmt, ___param, sizeof(___param));     \
	} while (0)

static __always_inline void stat_add(u32 idx, u64 n)
{
	u64 *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		*c += n;
}

static __always_inline void stat_inc(u32 idx)
{
	stat_add(idx, 1);
}

/* kfunc compat: prefer the 6.19+ forms, fall back to the older names. */
static __always_inline void dsq_insert(struct task_struct *p, u64 dsq, u64 slice, u64 flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert___v2))
		scx_bpf_dsq_insert___v2(p, dsq, slice, flags);
	else
		scx_bpf_dsq_insert(p, dsq, slice, flags);
}

/* Testing the stall path: debug_stall_tgid's tasks are never dispatched. */
static __always_inline bool debug_stalled(const struct task_struct *p)
{
	return debug_stall_tgid && (u32)p->tgid == debug_stall_tgid;
}

static __always_inline bool vtime_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

static int handoff_timerfn(void *map, int *key, struct cpu_ctx *c)
{
	u64 now = bpf_ktime_get_ns();

	if (!c->pending_pid) {
		c->armed = 0;
		return 0;
	}
	if (now - c->handoff_at >= handoff_bound_ns) {
		/* The waker has not blocked: preempt it so the wakee runs. */
		c->pending_pid = 0;
		c->armed = 0;
		stat_inc(SCX_DOOR_STAT_SAFETY_KICK);
		scx_bpf_kick_cpu(c->cpu, SCX_KICK_PREEMPT);
		return 0;
	}
	bpf_timer_start(&c->timer, handoff_bound_ns - (now - c->handoff_at),
			BPF_F_TIMER_CPU_PIN);
	return 0;
}

/*
 * Returns the CPU to hand `p` off to (the waker's), or -1 with the reason
 * counted. *state gets the waker's intent once `p` is known to be the
 * partner it names (else stays IDLE). Must be called from select_cpu
 * (current == waker).
 */
static __always_inline s32 try_handoff(struct task_struct *p, u32 *state)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct scx_door_task_ctx *wctx, *pctx;
	struct scx_door_intent in;
	s32 cpu;

	wctx = bpf_task_storage_get(&task_ctx, cur, NULL, 0);
	if (!wctx || !wctx->token)
		return -1; /* not a door thread: not counted */

	if (bpf_probe_read_user(&in, sizeof(in), (void *)wctx->intent_addr)) {
		stat_inc(SCX_DOOR_STAT_READ_FAULT);
		return -1;
	}
	if (in.magic != SCX_DOOR_INTENT_MAGIC || in.self != wctx->token ||
	    (in.state != SCX_DOOR_CALLING && in.state != SCX_DOOR_REPLY_BLOCK &&
	     in.state != SCX_DOOR_REPLY_CONTINUE)) {
		stat_inc(SCX_DOOR_STAT_NO_INTENT);
		return -1;
	}
	pctx = bpf_task_storage_get(&task_ctx, p, NULL, 0);
	if (!pctx || !pctx->token) {
		stat_inc(SCX_DOOR_STAT_OTHER_WAKEE);
		return -1;
	}
	if (pctx->token != in.target) {
		stat_inc(SCX_DOOR_STAT_TARGET_MISMATCH);
		return -1;
	}
	*state = in.state; /* a validated partner, even if the handoff fails */
	if (in.state == SCX_DOOR_REPLY_CONTINUE) {
		stat_inc(SCX_DOOR_STAT_CONTINUE);
		return -1;
	}
	if (cur->flags & PF_EXITING) {
		stat_inc(SCX_DOOR_STAT_EXITING);
		return -1;
	}
	cpu = bpf_get_smp_processor_id();
	if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr)) {
		stat_inc(SCX_DOOR_STAT_AFFINITY);
		return -1;
	}
	if (scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL) >= local_max) {
		stat_inc(SCX_DOOR_STAT_OVERLOADED);
		return -1;
	}
	/*
	 * Fairness: handoffs go to the local DSQ and so bypass the shared
	 * vtime queue. A chain of them (a busy door pair) would keep this CPU
	 * from ever looking at that queue. Once tasks are waiting there and the
	 * CPU has not dispatched from it for a slice, fall back to normal
	 * placement so the vtime order decides who runs next.
	 */
	u32 key = cpu;
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &key);

	if (c && scx_bpf_dsq_nr_queued(SHARED_DSQ) > 0 &&
	    bpf_ktime_get_ns() - c->last_dispatch > slice_ns) {
		stat_inc(SCX_DOOR_STAT_FAIRNESS);
		return -1;
	}
	return cpu;
}

/*
 * Who works for whom after a handoff (see Charging). A CALLING handoff: the
 * wakee (server) now runs for the waker (caller). A swap REPLY_BLOCK
 * handoff: the waker (server) is preempted at once and runs next when its
 * caller blocks in its next call, i.e. to serve that call, so its next run
 * is charged to the wakee. (Without this, a pair that settles into "the
 * caller blocks first, the server's reply hands off" would never be
 * charged.) Only validated partners (try_handoff() set the state) get here.
 */
static __always_inline void mark_charge(struct task_struct *waker, struct task_struct *wakee,
					u32 state)
{
	struct task_struct *server = wakee, *caller = waker;
	struct scx_door_task_ctx *sctx;

	if (state == SCX_DOOR_REPLY_BLOCK) {
		if (!handoff_swap)
			return;
		server = waker;
		caller = wakee;
	}
	sctx = bpf_task_storage_get(&task_ctx, server, NULL, 0);
	if (sctx)
		sctx->charge_to = caller->pid;
}

/* Adds `ns` of server run time to the caller's debt (see Charging). */
static __always_inline void charge_caller(u32 caller_pid, u64 ns)
{
	struct scx_door_task_ctx *cctx;
	struct task_struct *caller;

	caller = bpf_task_from_pid(caller_pid);
	if (!caller)
		return;
	cctx = bpf_task_storage_get(&task_ctx, caller, NULL, 0);
	if (cctx) {
		__sync_fetch_and_add(&cctx->owed_ns, ns);
		stat_inc(SCX_DOOR_STAT_CHARGED);
		stat_add(SCX_DOOR_STAT_CHARGED_US, ns / 1000);
	}
	bpf_task_release(caller);
}

s32 BPF_STRUCT_OPS(door_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	stat_inc(SCX_DOOR_STAT_WAKEUPS);
	if (debug_stalled(p))
		return prev_cpu;	/* no direct dispatch: ops.enqueue parks it */
	if (debug_error_after) {
		u64 n = __sync_fetch_and_add(&nr_wakeups_total, 1) + 1;

		if (n >= debug_error_after)
			scx_bpf_error("scx_door: debug error requested after %llu wake-ups", n);
	}

	if (handoff_enabled) {
		u32 state = SCX_DOOR_IDLE;

		cpu = try_handoff(p, &state);
		if (cpu >= 0) {
			struct task_struct *cur = bpf_get_current_task_btf();
			u32 key = cpu;
			struct cpu_ctx *c;

			stat_inc(SCX_DOOR_STAT_HANDOFF);
			mark_charge(cur, p, state);
			c = bpf_map_lookup_elem(&cpu_ctxs, &key);
			if (handoff_swap) {
				/* c2: the waker yields as it leaves the syscall
				 * (PREEMPT implies HEAD); ops.enqueue puts it
				 * right behind the wakee. No bound needed. */
				if (c)
					c->swap_pid = cur->pid;
				dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, SCX_ENQ_PREEMPT);
				return cpu;
			}
			dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, SCX_ENQ_HEAD);

			/* Bound 1: the waker's slice. */
			if (cur->scx.slice > handoff_bound_ns)
				scx_bpf_task_set_slice(cur, handoff_bound_ns);

			/* Bound 2: the safety-net timer on this CPU. */
			if (c) {
				c->pending_pid = p->pid;
				c->handoff_at = bpf_ktime_get_ns();
				if (!c->armed) {
					c->armed = 1;
					if (bpf_timer_start(&c->timer, handoff_bound_ns,
							    BPF_F_TIMER_CPU_PIN))
						c->armed = 0;
				}
			}
			return cpu;
		}
		if (state == SCX_DOOR_CALLING) {
			/* A call placed normally (affinity, overload,
			 * fairness): the server still works for its caller,
			 * so the caller pays and the server queues at the
			 * caller's vtime, not at its own (which charging
			 * keeps low: it would jump every queue). */
			struct task_struct *cur = bpf_get_current_task_btf();

			mark_charge(cur, p, state);
			if (vtime_before(p->scx.dsq_vtime, cur->scx.dsq_vtime))
				p->scx.dsq_vtime = cur->scx.dsq_vtime;
		}
	}

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		stat_inc(SCX_DOOR_STAT_DIRECT_IDLE);
		dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	}
	return cpu;
}

void BPF_STRUCT_OPS(door_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 vtime = p->scx.dsq_vtime;

	if (debug_stalled(p)) {
		dsq_insert(p, STALL_DSQ, slice_ns, enq_flags);
		return;
	}

	if (handoff_swap && !(enq_flags & SCX_ENQ_WAKEUP)) {
		u32 key = bpf_get_smp_processor_id();
		struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &key);

		/* The caller its own handoff preempted: straight behind the
		 * server on this CPU, so it runs the moment the server blocks. */
		if (c && c->swap_pid == (u64)p->pid) {
			c->swap_pid = 0;
			stat_inc(SCX_DOOR_STAT_SWAP_REQUEUE);
			dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
			return;
		}
	}

	stat_inc(SCX_DOOR_STAT_ENQUEUED);
	/* A sleeper may bank at most one slice of credit. */
	if (vtime_before(vtime, vtime_now - slice_ns))
		vtime = vtime_now - slice_ns;
	scx_bpf_dsq_insert_vtime(p, SHARED_DSQ, slice_ns, vtime, enq_flags);
}

void BPF_STRUCT_OPS(door_dispatch, s32 cpu, struct task_struct *prev)
{
	u32 key = bpf_get_smp_processor_id();
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &key);

	if (c)
		c->last_dispatch = bpf_ktime_get_ns();
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local___v2))
		scx_bpf_dsq_move_to_local___v2(SHARED_DSQ, 0);
	else
		scx_bpf_dsq_move_to_local(SHARED_DSQ);
}

void BPF_STRUCT_OPS(door_running, struct task_struct *p)
{
	u32 key = bpf_get_smp_processor_id();
	struct cpu_ctx *c;

	if (vtime_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;

	c = bpf_map_lookup_elem(&cpu_ctxs, &key);
	if (c) {
		c->run_pid = p->pid;
		c->run_exec = p->se.sum_exec_runtime;
	}
	if (c && c->pending_pid == (u64)p->pid)
		c->pending_pid = 0;
	if (c && c->swap_pid == (u64)p->pid)
		c->swap_pid = 0;
}

/* Run time of the run that ends now, from the kernel's own clock (updated
 * just before ops.stopping), not from the slice: bound 1 cuts the waker's
 * slice, and "slice given less slice left" then counted the cut as run
 * time (4.75 ms of vtime per handoff, charged to callers). */
static __always_inline u64 run_time(struct task_struct *p)
{
	u32 key = bpf_get_smp_processor_id();
	struct cpu_ctx *c = bpf_map_lookup_elem(&cpu_ctxs, &key);
	u64 now = p->se.sum_exec_runtime;

	if (c && c->run_pid == (u64)p->pid) {
		c->run_pid = 0;
		return now > c->run_exec ? now - c->run_exec : 0;
	}
	/* ops.running did not see this run (attached mid-run): slice based */
	return p->scx.slice < slice_ns ? slice_ns - p->scx.slice : 0;
}

void BPF_STRUCT_OPS(door_stopping, struct task_struct *p, bool runnable)
{
	u64 used = run_time(p);
	u64 weight = p->scx.weight ? p->scx.weight : 100;
	struct scx_door_task_ctx *tctx = bpf_task_storage_get(&task_ctx, p, NULL, 0);

	if (tctx) {
		/* A caller pays what its servers ran for it meanwhile. */
		u64 owed = __sync_lock_test_and_set(&tctx->owed_ns, 0);

		if (owed)
			p->scx.dsq_vtime += owed * 100 / weight;
		if (tctx->charge_to) {
			/* A server working for a caller: the caller pays; the
			 * call ends when the server blocks. */
			if (used)
				charge_caller(tctx->charge_to, used);
			if (!runnable)
				tctx->charge_to = 0;
			return;
		}
	}
	p->scx.dsq_vtime += used * 100 / weight;
}

void BPF_STRUCT_OPS(door_enable, struct task_struct *p)
{
	p->scx.dsq_vtime = vtime_now;
}

void BPF_STRUCT_OPS(door_cpu_online, s32 cpu)
{
}

void BPF_STRUCT_OPS(door_cpu_offline, s32 cpu)
{
}

s32 BPF_STRUCT_OPS_SLEEPABLE(door_init)
{
	u32 nr = scx_bpf_nr_cpu_ids();
	s32 ret;
	u32 i;

	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret)
		return ret;
	if (debug_stall_tgid) {
		ret = scx_bpf_create_dsq(STALL_DSQ, -1);
		if (ret)
			return ret;
	}

	for (i = 0; i < MAX_CPUS && i < nr; i++) {
		u32 key = i;
		struct cpu_ctx *c;

		c = bpf_map_lookup_elem(&cpu_ctxs, &key);
		if (!c)
			return -2;
		c->cpu = i;
		c->armed = 0;
		c->pending_pid = 0;
		c->swap_pid = 0;
		c->run_pid = 0;
		ret = bpf_timer_init(&c->timer, &cpu_ctxs, CLOCK_MONOTONIC);
		if (ret && ret != -16 /* -EBUSY: reused across a reload */)
			return ret;
		ret = bpf_timer_set_callback(&c->timer, handoff_timerfn);
		if (ret)
			return ret;
	}
	return 0;
}

void BPF_STRUCT_OPS(door_exit, struct scx_exit_info *ei)
{
	s64 kind;

	uei.exit_code = ei->exit_code;
	uei.exit_cpu = ei->exit_cpu;
	bpf_probe_read_kernel_str(uei.reason, sizeof(uei.reason), ei->reason);
	bpf_probe_read_kernel_str(uei.msg, sizeof(uei.msg), ei->msg);
	/* kind last: the loader polls it */
	__sync_val_compare_and_swap(&uei.kind, 0, (s32)ei->kind);
	kind = ei->kind;
	bpf_ringbuf_output(&exit_rb, &kind, sizeof(kind), BPF_RB_FORCE_WAKEUP);
}

SEC(".struct_ops.link")
struct sched_ext_ops door_ops = {
	.select_cpu = (void *)door_select_cpu,
	.enqueue = (void *)door_enqueue,
	.dispatch = (void *)door_dispatch,
	.running = (void *)door_running,
	.stopping = (void *)door_stopping,
	.enable = (void *)door_enable,
	.cpu_online = (void *)door_cpu_online,
	.cpu_offline = (void *)door_cpu_offline,
	.init = (void *)door_init,
	.exit = (void *)door_exit,
	.timeout_ms = 5000,
	.name = SCX_DOOR_OPS_NAME,
};
