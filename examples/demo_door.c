/* SPDX-License-Identifier: MIT */
/*
 * demo_door.c — Linux doors in one program: a door server process and a
 * separate client process.
 *
 *   1. The server creates a door and hands it to the client by descriptor
 *      passing (SCM_RIGHTS over a socketpair); the client calls it.
 *   2. The server also attaches the door to a file under /tmp with
 *      fattach(); the client open()s that path, gets the same door (same
 *      di_uniquifier) and calls it.
 *   3. The server passes a second descriptor back INSIDE a door call result
 *      (DOOR_DESCRIPTOR | DOOR_RELEASE: an unlinked temporary file), and the
 *      client reads the file through it.
 *   4. The server shows who called: door_ucred() + ucred_geteuid() /
 *      ucred_getpid(), checked by the client against its own identity.
 *   5. door_call() round-trip latency (p50/p99 over many 8-byte calls) next
 *      to a futex ping-pong between the same two processes, measured in the
 *      same run, with the server pinned to one CPU and the client first on
 *      the same CPU, then on another one.
 *
 * Only <door.h>, <stropts.h> (fattach/fdetach, as on illumos) and POSIX,
 * plus Linux' futex and CPU affinity calls for the measurement. The
 * launcher forks the two processes, waits for both with a deadline and exits
 * 0 only when every step passed; any failure prints "FAIL: ..." and the
 * exit status is non-zero.
 */
#define _GNU_SOURCE
#include <door.h>
#include <stropts.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEMO_TIMEOUT_S 25     /* the launcher kills everything after this */
#define DEFAULT_CALLS 20000   /* timed round trips per mechanism */
#define WARMUP_CALLS 500
#define PAYLOAD 8             /* bytes each way in the timed round trips */
#define MIN_TIMED 2000        /* timed round trips before the cap may stop a loop */
#define PHASE_CAP_NS (4ull * 1000 * 1000 * 1000) /* per mechanism and placement */

/* Opcodes: the first byte of a request. */
#define OP_HELLO 'H'  /* greet: reply with a text */
#define OP_FILE 'F'   /* reply with a descriptor of a fresh temporary file */
#define OP_CRED 'C'   /* reply with the caller's credentials as seen by door_ucred */
#define OP_ECHO 'E'   /* echo the request (latency measurement) */

/*
 * Futex ping-pong area, mapped MAP_SHARED before fork() so both processes
 * see it. Ordering invariant: the payload is written before the sequence
 * word is incremented (seq_cst RMW) and read after the new value is seen
 * (seq_cst load); FUTEX_WAIT re-checks the word in the kernel, so a wake-up
 * between the check and the sleep is never lost.
 */
struct pingpong {
	_Alignas(64) _Atomic uint32_t req;
	_Alignas(64) _Atomic uint32_t rep;
	_Atomic uint32_t quit;
	_Alignas(64) unsigned char buf[2][PAYLOAD]; /* [0] request, [1] reply */
};
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "futex word size");

static const char *role = "launcher";
static atomic_ulong calls_served;

static void say(const char *fmt, ...)
{
	va_list ap;
	char line[1024];
	int n = snprintf(line, sizeof line, "[%-8s pid %5d] ", role, (int)getpid());

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line keeps the two processes' output from interleaving. */
	strncat(line, "\n", sizeof line - strlen(line) - 1);
	if (write(STDOUT_FILENO, line, strlen(line)) < 0)
		return;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	char msg[768];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("FAIL: %s", msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, NULL,
		       NULL, 0);
}

/* FUTEX_WAIT for at most 100 ms: -1 with errno ETIMEDOUT on time-out. */
static long futex_wait_100ms(_Atomic uint32_t *word, uint32_t expected)
{
	struct timespec to = { 0, 100 * 1000 * 1000 };

	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &to,
		       NULL, 0);
}

static long futex_wake(_Atomic uint32_t *word)
{
	return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Pins the calling thread, and the threads it creates later, to cpu. */
static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/* ---- Descriptor passing over a UNIX socket (step 1) ---- */

/* Sends fd with a NUL-terminated text message. */
static int send_fd(int sock, int fd, const char *text)
{
	struct iovec iov = { (void *)text, strlen(text) + 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof msg);
	memset(&ctl, 0, sizeof ctl);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -1;
}

/* Receives a descriptor and its text message (NUL-terminated into text). */
static int recv_fd(int sock, char *text, size_t text_size)
{
	struct iovec iov = { text, text_size - 1 };
	ssize_t got;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg;
	struct cmsghdr *c;
	int fd = -1;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (got <= 0) {
		if (got == 0)
			errno = ECONNRESET;
		return -1;
	}
	text[got] = '\0';
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
	if (fd < 0)
		errno = EPROTO;
	return fd;
}

/* ---- Server ---- */

/* Step 3: a fresh, unlinked temporary file holding `text`. */
static int make_temp_file(const char *text, struct stat *st)
{
	char path[] = "/tmp/door_demo.XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fstat(fd, st) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void server_procedure(void *cookie, char *argp, size_t arg_size,
			     door_desc_t *dp, uint_t n_desc)
{
	char reply[512];
	unsigned long n;

	(void)cookie;
	(void)dp;
	(void)n_desc;
	if (argp == DOOR_UNREF_DATA || arg_size == 0)
		door_return(NULL, 0, NULL, 0);
	n = atomic_fetch_add(&calls_served, 1) + 1;

	switch (argp[0]) {
	case OP_ECHO:
		door_return(argp, arg_size, NULL, 0);
		break;
	case OP_HELLO: {
		int len = snprintf(reply, sizeof reply,
				   "hello %.*s, this is door server pid %d (call #%lu)",
				   (int)(arg_size - 1), argp + 1, (int)getpid(), n);
		door_return(reply, (size_t)len + 1, NULL, 0);
		break;
	}
	case OP_FILE: {
		char text[256];
		struct stat st;
		door_desc_t d;
		int fd, len;

		snprintf(text, sizeof text,
			 "This file was created, filled and unlinked by door server pid %d; "
			 "you hold it only through the descriptor in the door result.\n",
			 (int)getpid());
		fd = make_temp_file(text, &st);
		if (fd < 0) {
			len = snprintf(reply, sizeof reply, "ERR temp file: %s",
				       strerror(errno));
			door_return(reply, (size_t)len + 1, NULL, 0);
			break;
		}
		memset(&d, 0, sizeof d);
		/* DOOR_RELEASE: libdoor closes the server's copy once passed. */
		d.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		d.d_data.d_desc.d_descriptor = fd;
		len = snprintf(reply, sizeof reply, "OK dev=%lu ino=%lu size=%ld",
			       (unsigned long)st.st_dev, (unsigned long)st.st_ino,
			       (long)strlen(text));
		say("step 3: passing fd %d (inode %lu) back inside the door result",
		    fd, (unsigned long)st.st_ino);
		door_return(reply, (size_t)len + 1, &d, 1);
		/* Only reached when door_return() failed. */
		close(fd);
		len = snprintf(reply, sizeof reply, "ERR door_return with descriptor: %s",
			       strerror(errno));
		door_return(reply, (size_t)len + 1, NULL, 0);
		break;
	}
	case OP_CRED: {
		ucred_t *uc = NULL;
		int len;

		if (door_ucred(&uc) != 0) {
			len = snprintf(reply, sizeof reply, "ERR door_ucred: %s",
				       strerror(errno));
		} else {
			say("step 4: door_ucred says the caller is pid %d, euid %d, egid %d",
			    (int)ucred_getpid(uc), (int)ucred_geteuid(uc),
			    (int)ucred_getegid(uc));
			len = snprintf(reply, sizeof reply, "OK pid=%d euid=%d egid=%d",
				       (int)ucred_getpid(uc), (int)ucred_geteuid(uc),
				       (int)ucred_getegid(uc));
			ucred_free(uc);
		}
		door_return(reply, (size_t)len + 1, NULL, 0);
		break;
	}
	default: {
		int len = snprintf(reply, sizeof reply, "ERR unknown opcode 0x%02x",
				   (unsigned char)argp[0]);
		door_return(reply, (size_t)len + 1, NULL, 0);
		break;
	}
	}
}

/*
 * Step 2: attach door d to a fresh file. fattach() needs a file system with
 * user extended attributes; /var/tmp is the fall-back when /tmp has none.
 * On success path holds the file's name; on failure why says what failed.
 */
static int attach_door(int d, char *path, size_t path_size, char *why,
		       size_t why_size)
{
	static const char *const dirs[] = { "/tmp", "/var/tmp" };
	size_t i;

	why[0] = '\0';
	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		int fd;

		snprintf(path, path_size, "%s/door_demo.XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd < 0) {
			snprintf(why + strlen(why), why_size - strlen(why),
				 "%smkstemp(%s): %s", why[0] ? "; " : "", path,
				 strerror(errno));
			continue;
		}
		close(fd);
		if (fattach(d, path) == 0)
			return 0;
		snprintf(why + strlen(why), why_size - strlen(why),
			 "%sfattach(%s): %s", why[0] ? "; " : "", path,
			 strerror(errno));
		unlink(path);
	}
	path[0] = '\0';
	return -1;
}

/* The attached file, removed at exit even when the server fails. */
static char attached_path[256];

static void remove_attached(void)
{
	if (attached_path[0] != '\0') {
		fdetach(attached_path);
		unlink(attached_path);
	}
}

static int run_server(int sock, struct pingpong *pp, int cpu)
{
	char path[256], why[600], msg[1024];
	int d;
	uint32_t seen = 0;
	char c;
	ssize_t r;

	/* Before door_create(): libdoor's server threads inherit the affinity. */
	if (pin_to(cpu) != 0)
		die("sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
	d = door_create(server_procedure, NULL, 0);
	if (d < 0)
		die("door_create: %s", strerror(errno));
	say("pinned to CPU %d, created door fd %d (libdoor %s)", cpu, d,
	    door_version_np());
	if (attach_door(d, path, sizeof path, why, sizeof why) == 0) {
		say("step 2: fattach()ed the door to %s", path);
		snprintf(attached_path, sizeof attached_path, "%s", path);
		atexit(remove_attached);
		snprintf(msg, sizeof msg, "P%s", path);
	} else {
		say("step 2: could not attach the door to a file: %s", why);
		snprintf(msg, sizeof msg, "E%s", why);
	}
	say("step 1: sending the door to the client over a UNIX socket "
	    "(SCM_RIGHTS)");
	if (send_fd(sock, d, msg) != 0)
		die("sendmsg(SCM_RIGHTS): %s", strerror(errno));

	/* Step 5 baseline: echo futex ping-pongs until the client says quit. */
	for (;;) {
		uint32_t v;

		while ((v = atomic_load(&pp->req)) == seen) {
			/* The client never writes to the socket: readable means
			 * it closed its end, i.e. it exited (or failed). */
			struct pollfd pfd = { sock, POLLIN, 0 };

			if (futex_wait_100ms(&pp->req, seen) < 0 &&
			    errno == ETIMEDOUT && poll(&pfd, 1, 0) > 0)
				die("the client went away before the futex baseline "
				    "finished");
		}
		seen = v;
		if (atomic_load(&pp->quit))
			break;
		memcpy(pp->buf[1], pp->buf[0], PAYLOAD);
		atomic_fetch_add(&pp->rep, 1);
		futex_wake(&pp->rep);
	}

	/* The client is done when it closes its end of the socket. */
	do
		r = read(sock, &c, 1);
	while (r > 0 || (r < 0 && errno == EINTR));
	if (path[0] != '\0') {
		if (fdetach(path) != 0)
			die("fdetach(%s): %s", path, strerror(errno));
		unlink(path);
		attached_path[0] = '\0';
		say("fdetach()ed and removed %s", path);
	}
	say("client closed its socket; served %lu door calls, exiting",
	    (unsigned long)atomic_load(&calls_served));
	return 0;
}

/* ---- Client ---- */

/* door_call with a text request; copies the text reply into out. */
static void call_text(int d, const char *req, size_t req_len, char *out,
		      size_t out_size, door_desc_t **descs, uint_t *n_desc)
{
	char rbuf[1024];
	door_arg_t a;

	a.data_ptr = (char *)req;
	a.data_size = req_len;
	a.desc_ptr = NULL;
	a.desc_num = 0;
	a.rbuf = rbuf;
	a.rsize = sizeof rbuf;
	if (door_call(d, &a) != 0)
		die("door_call('%c'): %s", req[0], strerror(errno));
	if (a.data_size == 0 || a.data_size > out_size)
		die("door_call('%c'): unexpected result size %zu", req[0],
		    a.data_size);
	memcpy(out, a.data_ptr, a.data_size);
	out[a.data_size - 1] = '\0';
	if (n_desc)
		*n_desc = a.desc_num;
	if (descs) {
		static door_desc_t saved[DOOR_PARAM_DESC_MAX + 8];

		if (a.desc_num > sizeof saved / sizeof saved[0])
			die("door_call('%c'): %u descriptors", req[0], a.desc_num);
		if (a.desc_num)
			memcpy(saved, a.desc_ptr, a.desc_num * sizeof saved[0]);
		*descs = saved;
	}
	if (a.rbuf != rbuf)
		munmap(a.rbuf, a.rsize);
	if (strncmp(out, "ERR", 3) == 0)
		die("server answered '%c' with: %s", req[0], out);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	i = i ? i - 1 : 0;
	return (double)v[i < n ? i : n - 1] / 1000.0;
}

struct stats {
	double p50, p99, mean;
	size_t n; /* timed round trips */
};

static struct stats summarize(uint64_t *lat, size_t n)
{
	struct stats s;
	double sum = 0;
	size_t i;

	qsort(lat, n, sizeof lat[0], cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)lat[i];
	s.p50 = pct_us(lat, n, 0.50);
	s.p99 = pct_us(lat, n, 0.99);
	s.mean = sum / (double)n / 1000.0;
	s.n = n;
	return s;
}

/* True once a timed loop has run past its time cap with enough samples. */
static int over_cap(size_t i, uint64_t start)
{
	return i > WARMUP_CALLS + MIN_TIMED && (i & 255) == 0 &&
	       now_ns() - start > PHASE_CAP_NS;
}

static struct stats bench_door(int d, uint64_t *lat, size_t calls)
{
	unsigned char req[PAYLOAD], rep[PAYLOAD];
	uint64_t start = now_ns();
	size_t i;

	for (i = 0; i < WARMUP_CALLS + calls && !over_cap(i, start); i++) {
		door_arg_t a;
		uint64_t t0, t1, tag = i;

		req[0] = OP_ECHO;
		memcpy(req + 1, &tag, PAYLOAD - 1);
		a.data_ptr = (char *)req;
		a.data_size = PAYLOAD;
		a.desc_ptr = NULL;
		a.desc_num = 0;
		a.rbuf = (char *)rep;
		a.rsize = PAYLOAD;
		t0 = now_ns();
		if (door_call(d, &a) != 0)
			die("door_call (echo #%zu): %s", i, strerror(errno));
		t1 = now_ns();
		if (a.data_size != PAYLOAD || memcmp(a.data_ptr, req, PAYLOAD) != 0)
			die("door_call (echo #%zu): reply does not echo the request", i);
		if (a.rbuf != (char *)rep)
			munmap(a.rbuf, a.rsize);
		if (i >= WARMUP_CALLS)
			lat[i - WARMUP_CALLS] = t1 - t0;
	}
	return summarize(lat, i - WARMUP_CALLS);
}

/* The server's main thread answers these (run_server). */
static struct stats bench_futex(struct pingpong *pp, uint64_t *lat, size_t calls)
{
	unsigned char req[PAYLOAD], rep[PAYLOAD];
	uint32_t rep_seen = atomic_load(&pp->rep);
	uint64_t start = now_ns();
	size_t i;

	for (i = 0; i < WARMUP_CALLS + calls && !over_cap(i, start); i++) {
		uint64_t t0, t1, tag = i;

		req[0] = OP_ECHO;
		memcpy(req + 1, &tag, PAYLOAD - 1);
		t0 = now_ns();
		memcpy(pp->buf[0], req, PAYLOAD);
		atomic_fetch_add(&pp->req, 1);
		futex_wake(&pp->req);
		while (atomic_load(&pp->rep) == rep_seen)
			futex_wait(&pp->rep, rep_seen);
		rep_seen++;
		memcpy(rep, pp->buf[1], PAYLOAD);
		t1 = now_ns();
		if (memcmp(rep, req, PAYLOAD) != 0)
			die("futex ping-pong #%zu: reply does not echo the request", i);
		if (i >= WARMUP_CALLS)
			lat[i - WARMUP_CALLS] = t1 - t0;
	}
	return summarize(lat, i - WARMUP_CALLS);
}

static void stop_futex_server(struct pingpong *pp)
{
	atomic_store(&pp->quit, 1);
	atomic_fetch_add(&pp->req, 1);
	futex_wake(&pp->req);
}


static int run_client(int sock, struct pingpong *pp, pid_t server_pid, size_t calls,
		      const int cpu[2], int ncpu)
{
	static const char *const where[2] = { "same CPU", "cross CPU" };
	struct stats sd[2], sf[2];
	int ph;
	char out[1024], buf[512], msg[1024];
	door_info_t info;
	door_desc_t *descs = NULL;
	uint_t n_desc = 0;
	int d, i, fd;
	struct stat st;
	unsigned long dev = 0, ino = 0;
	long size = -1;
	ssize_t got;
	int cpid = -1, ceuid = -1, cegid = -1;
	uint64_t *lat;

	/* Step 1: receive the door over the socket and call it. */
	d = recv_fd(sock, msg, sizeof msg);
	if (d < 0)
		die("receiving the door descriptor: %s", strerror(errno));
	if (door_info(d, &info) != 0)
		die("door_info: %s", strerror(errno));
	say("step 1: received door fd %d by SCM_RIGHTS: door_info says server pid %d, "
	    "door id %llu, attributes 0x%x%s", d, (int)info.di_target,
	    (unsigned long long)info.di_uniquifier, info.di_attributes,
	    (info.di_attributes & DOOR_LOCAL) ? " (LOCAL?!)" : " (not local: another process' door)");
	if (info.di_target != server_pid)
		die("door_info: di_target %d, but the server is pid %d",
		    (int)info.di_target, (int)server_pid);
	for (i = 0; i < 3; i++) {
		char req[64];
		int len = snprintf(req, sizeof req, "%cclient pid %d", OP_HELLO,
				   (int)getpid());

		call_text(d, req, (size_t)len + 1, out, sizeof out, NULL, NULL);
		say("step 1: door_call #%d -> \"%s\"", i + 1, out);
	}

	/* Step 2: the same door, found by its path. */
	if (msg[0] != 'P')
		die("step 2: the server could not attach the door to a path: %s",
		    msg + 1);
	{
		door_info_t info2;
		int d2 = open(msg + 1, O_RDONLY | O_CLOEXEC);
		char req[64];
		int len;

		if (d2 < 0)
			die("step 2: open(%s): %s", msg + 1, strerror(errno));
		if (door_info(d2, &info2) != 0)
			die("step 2: open(%s) did not yield a door: door_info: %s",
			    msg + 1, strerror(errno));
		if (info2.di_uniquifier != info.di_uniquifier)
			die("step 2: open(%s) yielded door id %llu, expected %llu",
			    msg + 1, (unsigned long long)info2.di_uniquifier,
			    (unsigned long long)info.di_uniquifier);
		len = snprintf(req, sizeof req, "%cclient pid %d via %s", OP_HELLO,
			       (int)getpid(), "the path");
		call_text(d2, req, (size_t)len + 1, out, sizeof out, NULL, NULL);
		say("step 2: open(\"%s\") gave fd %d, the same door (id %llu); "
		    "door_call -> \"%s\"", msg + 1, d2,
		    (unsigned long long)info2.di_uniquifier, out);
		close(d2);
	}

	/* Step 3: a descriptor comes back inside the door result. */
	call_text(d, (const char[]){ OP_FILE }, 1, out, sizeof out, &descs, &n_desc);
	if (n_desc != 1 || !(descs[0].d_attributes & DOOR_DESCRIPTOR))
		die("step 3: expected 1 DOOR_DESCRIPTOR in the result, got %u", n_desc);
	fd = descs[0].d_data.d_desc.d_descriptor;
	if (sscanf(out, "OK dev=%lu ino=%lu size=%ld", &dev, &ino, &size) != 3)
		die("step 3: unexpected reply \"%s\"", out);
	if (fstat(fd, &st) != 0)
		die("step 3: fstat(received fd %d): %s", fd, strerror(errno));
	if ((unsigned long)st.st_ino != ino || (unsigned long)st.st_dev != dev)
		die("step 3: received fd %d is inode %lu, server passed inode %lu",
		    fd, (unsigned long)st.st_ino, ino);
	got = pread(fd, buf, sizeof buf - 1, 0);
	if (got != size)
		die("step 3: read %zd bytes from the passed file, expected %ld", got, size);
	buf[got] = '\0';
	if (buf[got - 1] == '\n')
		buf[got - 1] = '\0';
	say("step 3: got fd %d in the door result (same inode %lu, link count %lu); "
	    "it reads: \"%s\"", fd, ino, (unsigned long)st.st_nlink, buf);
	close(fd);

	/* Step 4: the server identifies the caller with door_ucred. */
	call_text(d, (const char[]){ OP_CRED }, 1, out, sizeof out, NULL, NULL);
	if (sscanf(out, "OK pid=%d euid=%d egid=%d", &cpid, &ceuid, &cegid) != 3)
		die("step 4: unexpected reply \"%s\"", out);
	if (cpid != (int)getpid() || ceuid != (int)geteuid() || cegid != (int)getegid())
		die("step 4: server saw pid %d euid %d egid %d, but I am pid %d euid %d egid %d",
		    cpid, ceuid, cegid, (int)getpid(), (int)geteuid(), (int)getegid());
	say("step 4: the server identified me correctly: pid %d, euid %d, egid %d",
	    cpid, ceuid, cegid);

	/* Step 5: latency, door_call next to a futex ping-pong. */
	lat = malloc(calls * sizeof lat[0]);
	if (lat == NULL)
		die("out of memory");
	say("step 5: timing up to %zu round trips of %d bytes each way per "
	    "mechanism (after %d warm-up), server pinned to CPU %d", calls,
	    PAYLOAD, WARMUP_CALLS, cpu[0]);
	for (ph = 0; ph < ncpu; ph++) {
		if (pin_to(cpu[ph]) != 0)
			die("sched_setaffinity(CPU %d): %s", cpu[ph], strerror(errno));
		sd[ph] = bench_door(d, lat, calls);
		sf[ph] = bench_futex(pp, lat, calls);
		say("step 5: %s (client on CPU %d): door_call p50 %.2f us, futex "
		    "p50 %.2f us", where[ph], cpu[ph], sd[ph].p50, sf[ph].p50);
	}
	stop_futex_server(pp);
	free(lat);
	close(d);

	say("----------------------------------------------------------------");
	say("round trip, %d B each way, client pid %d <-> server pid %d",
	    PAYLOAD, (int)getpid(), (int)server_pid);
	say("  %-10s %-17s %9s %9s %9s %7s", "placement", "mechanism", "p50 us",
	    "p99 us", "mean us", "calls");
	for (ph = 0; ph < ncpu; ph++) {
		say("  %-10s %-17s %9.2f %9.2f %9.2f %7zu", where[ph], "door_call",
		    sd[ph].p50, sd[ph].p99, sd[ph].mean, sd[ph].n);
		say("  %-10s %-17s %9.2f %9.2f %9.2f %7zu", "",
		    "futex ping-pong", sf[ph].p50, sf[ph].p99, sf[ph].mean,
		    sf[ph].n);
		say("  %-10s door_call / futex: p50 %.3gx, p99 %.3gx", "",
		    sd[ph].p50 / sf[ph].p50, sd[ph].p99 / sf[ph].p99);
	}
	if (ncpu < 2)
		say("  (one CPU available: no cross-CPU measurement)");
	say("  futex ping-pong: FUTEX_WAKE + FUTEX_WAIT each way on shared "
	    "memory; it always sleeps.");
	say("  libdoor spins briefly before sleeping when the peer runs on "
	    "another CPU (DOOR_SPIN_NS),");
	say("  so cross-CPU it can beat a sleeping futex. bench/run.sh compares "
	    "door_call with a spinning");
	say("  futex, busy-poll, pipes, sockets, eventfd, io_uring, gRPC and "
	    "binder, 8 B to 1 MiB.");
	say("----------------------------------------------------------------");
	return 0;
}

/* ---- Launcher ---- */

static pid_t children[2] = { -1, -1 };

static void on_alarm(int sig)
{
	static const char msg[] =
		"[launcher] FAIL: the demo did not finish in time; killing it\n";
	int i;

	(void)sig;
	for (i = 0; i < 2; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		_exit(2);
	_exit(2);
}

static pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid < 0) {
		say("FAIL: fork: %s", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		exit(fn(arg));
	}
	return pid;
}

struct ctx {
	int sock[2];
	int cpu[2]; /* cpu[0]: server (and same-CPU client); cpu[1]: cross-CPU client */
	int ncpu;   /* placements to measure: 1 or 2 */
	struct pingpong *pp;
	pid_t server_pid;
	size_t calls;
};

static int server_main(void *p)
{
	struct ctx *c = p;

	role = "server";
	close(c->sock[1]);
	return run_server(c->sock[0], c->pp, c->cpu[0]);
}

static int client_main(void *p)
{
	struct ctx *c = p;

	role = "client";
	close(c->sock[0]);
	return run_client(c->sock[1], c->pp, c->server_pid, c->calls, c->cpu,
			  c->ncpu);
}

static int reap(pid_t pid, const char *who)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			say("FAIL: waitpid(%s): %s", who, strerror(errno));
			return 1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		say("FAIL: the %s (pid %d) was killed by signal %d (%s)", who,
		    (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		say("FAIL: the %s (pid %d) exited with status %d", who, (int)pid,
		    WEXITSTATUS(status));
	return 1;
}

int main(int argc, char **argv)
{
	struct ctx c;
	int failed = 0;

	memset(&c, 0, sizeof c);
	c.calls = DEFAULT_CALLS;
	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end != '\0' || v < 100 || v > 10000000) {
			fprintf(stderr, "usage: %s [calls (100..10000000, default %d)]\n",
				argv[0], DEFAULT_CALLS);
			return 2;
		}
		c.calls = (size_t)v;
	}

	{
		cpu_set_t set;
		int i;

		if (sched_getaffinity(0, sizeof set, &set) != 0) {
			say("FAIL: sched_getaffinity: %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < CPU_SETSIZE && c.ncpu < 2; i++)
			if (CPU_ISSET(i, &set))
				c.cpu[c.ncpu++] = i;
	}

	signal(SIGALRM, on_alarm);
	alarm(DEMO_TIMEOUT_S);
	say("Linux doors demo (libdoor %s): one server process, one client "
	    "process", door_version_np());

	c.pp = mmap(NULL, sizeof *c.pp, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.pp == MAP_FAILED) {
		say("FAIL: mmap: %s", strerror(errno));
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c.sock) != 0) {
		say("FAIL: socketpair: %s", strerror(errno));
		return 1;
	}
	c.server_pid = children[0] = spawn(server_main, &c);
	children[1] = spawn(client_main, &c);
	close(c.sock[0]);
	close(c.sock[1]);

	failed |= reap(children[1], "client");
	children[1] = -1;
	if (failed) {
		/* The server notices the client's exit within 100 ms and cleans
		 * up (fdetach); kill it if it has not exited after a second. */
		int i;

		for (i = 0; i < 100 && waitpid(children[0], NULL, WNOHANG) == 0; i++) {
			struct timespec ten_ms = { 0, 10 * 1000 * 1000 };

			nanosleep(&ten_ms, NULL);
		}
		if (i < 100)
			children[0] = -1;
		else
			kill(children[0], SIGKILL);
	}
	if (children[0] > 0)
		failed |= reap(children[0], "server");
	children[0] = -1;
	alarm(0);

	if (failed) {
		say("FAIL: the demo did not complete (see the FAIL lines above)");
		return 1;
	}
	say("all 5 steps passed: door passed by SCM_RIGHTS, door found by path "
	    "(fattach + open), descriptor returned in a door result, caller "
	    "credentials via door_ucred, latency measured");
	return 0;
}
