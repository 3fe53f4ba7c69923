/* SPDX-License-Identifier: MIT */
/*
 * sessions.c — per-client session doors cleaned up by DOOR_UNREF, written as
 * on illumos.
 *
 *   sessions [N]        N clients (default 6, at most 64)
 *
 * A "factory" door hands each caller a door of its own: every "NEW" call
 * allocates session state, door_create()s a session door with DOOR_UNREF
 * and the state as its cookie, and returns it as a DOOR_DESCRIPTOR. The
 * server keeps its own descriptor of the session door (no DOOR_RELEASE): it
 * is the one reference left when the client is done with its copy. When
 * that happens — the client closes its descriptor, or just exits — the
 * session procedure runs once more with argp == DOOR_UNREF_DATA: it frees
 * the state, door_revoke()s the door (which also closes the server's
 * descriptor) and prints "session N cleaned up". No client has to say
 * goodbye, and a client that crashes cleans up the same way.
 *
 * The clients are forked children that inherited the factory door. Each
 * makes CALLS calls on its session door, then:
 *   - client 0, 3, ...: close()s it, and asks the factory until the session
 *     is reported cleaned up (so the close, not the exit, triggered it);
 *   - client 1, 4, ...: just exits, descriptor still open;
 *   - client 2, 5, ...: dup()s it, closes the original, makes its last call
 *     through the dup (closing one of two dups is not the last close), then
 *     closes the dup and waits like client 0.
 * A session cleaned up early would be revoked under its client, whose next
 * call would fail with EBADF; the handler also checks that all CALLS calls
 * were made before it ran.
 *
 * The parent waits (with a deadline) until every session is cleaned up and
 * every client has exited, and exits 0 only if each of the N sessions was
 * cleaned up exactly once and nothing else went wrong.
 * Only <door.h>, POSIX threads and POSIX.
 */
#define _POSIX_C_SOURCE 200809L
#include <door.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 64
#define CALLS 3           /* calls each client makes on its session door */
#define DEADLINE_S 20     /* the whole run */
#define CLIENT_WAIT_S 10  /* a closing client waits this long for the cleanup */

static const char *role = "server";

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sessions %s: FAIL: ", role);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- The server: the factory and the session doors ---- */

struct session {
	int id;                 /* 1..N */
	int door;               /* the server's own descriptor of the session door */
	pthread_mutex_t lock;
	unsigned calls;
};

/* Everything below is protected by lock; done is signalled on each cleanup. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done;
static int n_sessions;                  /* sessions created so far */
static int cleaned[MAX_SESSIONS + 1];   /* cleanups seen, per session id */
static int n_cleaned;                   /* cleanups seen, all sessions */
static int n_errors;                    /* things that must not happen */

static _Noreturn void reply(const char *text, door_desc_t *dp, uint_t nd)
{
	(void) door_return((char *)text, text ? strlen(text) : 0, dp, nd);
	(void) door_return(NULL, 0, NULL, 0); /* the client wanted no results */
	abort();
}

static void error(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&lock);
	n_errors++;
	pthread_mutex_unlock(&lock);
	fprintf(stderr, "sessions server: ERROR: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The session door's procedure; cookie is the session's state. */
static void session_proc(void *cookie, char *argp, size_t arg_size,
			 door_desc_t *dp, uint_t n_desc)
{
	struct session *s = cookie;
	char text[64];
	unsigned calls;

	(void) dp;
	(void) n_desc;
	if (argp == DOOR_UNREF_DATA) {
		/*
		 * The last client reference is gone: nobody can call this door
		 * any more, and this is the only invocation that can be running
		 * (an unref waits for active calls to finish). Clean up.
		 */
		int id = s->id;

		pthread_mutex_lock(&s->lock);
		calls = s->calls;
		pthread_mutex_unlock(&s->lock);
		if (calls != CALLS)
			error("session %d cleaned up after %u of %d calls", id,
			      calls, CALLS);
		if (door_revoke(s->door) != 0) /* closes s->door too */
			error("session %d: door_revoke: %s", id, strerror(errno));
		pthread_mutex_destroy(&s->lock);
		free(s);

		printf("session %d cleaned up\n", id);
		fflush(stdout);
		pthread_mutex_lock(&lock);
		cleaned[id]++;
		n_cleaned++;
		pthread_cond_broadcast(&done);
		pthread_mutex_unlock(&lock);
		reply(NULL, NULL, 0);
	}
	if (arg_size != 4 || memcmp(argp, "INCR", 4) != 0)
		reply("ERR usage", NULL, 0);
	pthread_mutex_lock(&s->lock);
	calls = ++s->calls;
	pthread_mutex_unlock(&s->lock);
	snprintf(text, sizeof text, "session %d call %u", s->id, calls);
	reply(text, NULL, 0);
}

/* The factory door's procedure: "NEW" and "ASK id". */
static void factory_proc(void *cookie, char *argp, size_t arg_size,
			 door_desc_t *dp, uint_t n_desc)
{
	char text[64];

	(void) cookie;
	(void) dp;
	(void) n_desc; /* DOOR_REFUSE_DESC */
	if (arg_size == 3 && memcmp(argp, "NEW", 3) == 0) {
		struct session *s = calloc(1, sizeof *s);
		door_desc_t desc;

		if (s == NULL)
			reply("ERR no memory", NULL, 0);
		pthread_mutex_init(&s->lock, NULL);
		pthread_mutex_lock(&lock);
		s->id = n_sessions < MAX_SESSIONS ? ++n_sessions : 0;
		pthread_mutex_unlock(&lock);
		if (s->id == 0) {
			free(s);
			reply("ERR too many sessions", NULL, 0);
		}
		/*
		 * s->door is written before the descriptor is handed out, so the
		 * unref invocation (which needs a handed-out reference first)
		 * always sees it.
		 */
		if ((s->door = door_create(session_proc, s, DOOR_UNREF)) < 0) {
			error("door_create: %s", strerror(errno));
			free(s);
			reply("ERR door_create", NULL, 0);
		}
		desc.d_attributes = DOOR_DESCRIPTOR; /* we keep our descriptor */
		desc.d_data.d_desc.d_descriptor = s->door;
		snprintf(text, sizeof text, "session %d", s->id);
		reply(text, &desc, 1);
	}
	if (arg_size > 4 && arg_size < 20 && memcmp(argp, "ASK ", 4) == 0) {
		int id;

		memcpy(text, argp + 4, arg_size - 4);
		text[arg_size - 4] = '\0';
		id = atoi(text);
		if (id < 1 || id > MAX_SESSIONS)
			reply("ERR usage", NULL, 0);
		pthread_mutex_lock(&lock);
		id = cleaned[id];
		pthread_mutex_unlock(&lock);
		reply(id > 0 ? "cleaned" : "active", NULL, 0);
	}
	reply("ERR usage", NULL, 0);
}

/* ---- The clients (forked children) ---- */

/* Calls door d with text req; returns the reply (static) and a descriptor. */
static const char *call(int d, const char *req, int *fdp)
{
	static char text[128];
	char rbuf[128];
	door_arg_t arg = { (char *)req, strlen(req), NULL, 0, rbuf, sizeof rbuf };
	size_t n;

	if (door_call(d, &arg) != 0)
		die("door_call(\"%s\"): %s", req, strerror(errno));
	n = arg.data_size < sizeof text - 1 ? arg.data_size : sizeof text - 1;
	memcpy(text, arg.data_ptr, n);
	text[n] = '\0';
	if (fdp != NULL) {
		*fdp = -1;
		if (arg.desc_num == 1 &&
		    (arg.desc_ptr[0].d_attributes & DOOR_DESCRIPTOR)) {
			*fdp = arg.desc_ptr[0].d_data.d_desc.d_descriptor;
			/* A door comes with its attributes; not ours: no DOOR_LOCAL. */
			if (!(arg.desc_ptr[0].d_attributes & DOOR_UNREF) ||
			    (arg.desc_ptr[0].d_attributes & DOOR_LOCAL))
				die("session door attributes %#x",
				    arg.desc_ptr[0].d_attributes);
		}
	}
	if (arg.rbuf != rbuf)
		(void) munmap(arg.rbuf, arg.rsize);
	return text;
}

/* Makes call number k on session door sd and checks the reply. */
static void use(int sd, int id, int k)
{
	char expect[64];
	const char *got = call(sd, "INCR", NULL);

	snprintf(expect, sizeof expect, "session %d call %d", id, k);
	if (strcmp(got, expect) != 0)
		die("got \"%s\", expected \"%s\"", got, expect);
}

/* Asks the factory until session id is reported cleaned up. */
static void wait_cleaned(int factory, int id)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	char req[32];

	snprintf(req, sizeof req, "ASK %d", id);
	for (int i = 0; i < CLIENT_WAIT_S * 100; i++) {
		if (strcmp(call(factory, req, NULL), "cleaned") == 0)
			return;
		nanosleep(&tick, NULL);
	}
	die("session %d was not cleaned up %d s after its last close", id,
	    CLIENT_WAIT_S);
}

static int client(int factory, int n)
{
	static char name[32];
	const char *got;
	int sd, sd2, id;

	snprintf(name, sizeof name, "client %d", n);
	role = name;
	alarm(DEADLINE_S); /* never outlive a stuck parent */

	got = call(factory, "NEW", &sd);
	if (sscanf(got, "session %d", &id) != 1 || sd < 0)
		die("NEW: \"%s\"%s", got, sd < 0 ? ", no descriptor" : "");
	for (int k = 1; k < CALLS; k++)
		use(sd, id, k);

	switch (n % 3) {
	case 0: /* close, then see the server clean up while we still run */
		use(sd, id, CALLS);
		if (close(sd) != 0)
			die("close: %s", strerror(errno));
		wait_cleaned(factory, id);
		printf("client %d: closed session %d, saw it cleaned up\n", n, id);
		break;
	case 1: /* just exit: process exit closes the descriptor */
		use(sd, id, CALLS);
		printf("client %d: exiting with session %d still open\n", n, id);
		break;
	default: /* a dup is the same reference: closing one copy is not the end */
		if ((sd2 = dup(sd)) < 0)
			die("dup: %s", strerror(errno));
		(void) close(sd);
		use(sd2, id, CALLS);
		(void) close(sd2);
		wait_cleaned(factory, id);
		printf("client %d: used a dup of session %d, closed both, saw it cleaned up\n",
		       n, id);
		break;
	}
	fflush(stdout);
	return 0;
}

/* ---- The parent ---- */

static void reap(pid_t *kids, int n, const struct timespec *deadline,
		 int *failed)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 }, now;
	int left = n, status;

	while (left > 0) {
		for (int i = 0; i < n; i++) {
			if (kids[i] <= 0 || waitpid(kids[i], &status, WNOHANG) == 0)
				continue;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "sessions: client %d failed (status %#x)\n",
					i, status);
				(*failed)++;
			}
			kids[i] = 0;
			left--;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (left > 0 && now.tv_sec >= deadline->tv_sec) {
			for (int i = 0; i < n; i++)
				if (kids[i] > 0) {
					(void) kill(kids[i], SIGKILL);
					(void) waitpid(kids[i], &status, 0);
					fprintf(stderr, "sessions: client %d killed at the deadline\n", i);
					(*failed)++;
				}
			return;
		}
		nanosleep(&tick, NULL);
	}
}

int main(int argc, char **argv)
{
	pid_t kids[MAX_SESSIONS];
	pthread_condattr_t ca;
	struct timespec deadline;
	int n = argc > 1 ? atoi(argv[1]) : 6;
	int factory, failed = 0, ok = 1;

	if (argc > 2 || n < 1 || n > MAX_SESSIONS) {
		fprintf(stderr, "usage: sessions [N]    (1 <= N <= %d)\n",
			MAX_SESSIONS);
		return 2;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&done, &ca);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DEADLINE_S;

	if ((factory = door_create(factory_proc, NULL, DOOR_REFUSE_DESC)) < 0)
		die("door_create: %s", strerror(errno));
	fflush(stdout); /* before fork: nothing buffered twice */
	for (int i = 0; i < n; i++) {
		if ((kids[i] = fork()) < 0)
			die("fork: %s", strerror(errno));
		if (kids[i] == 0)
			exit(client(factory, i));
	}

	/* Server threads do the work; main waits for the cleanups. */
	pthread_mutex_lock(&lock);
	while (n_cleaned < n &&
	       pthread_cond_timedwait(&done, &lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&lock);

	reap(kids, n, &deadline, &failed);
	/* A cleanup running twice would come right after the first: give it time. */
	nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);

	pthread_mutex_lock(&lock);
	for (int id = 1; id <= n; id++)
		if (cleaned[id] != 1) {
			fprintf(stderr, "sessions: session %d cleaned up %d times\n",
				id, cleaned[id]);
			ok = 0;
		}
	if (n_sessions != n || n_errors != 0 || failed != 0) {
		fprintf(stderr, "sessions: %d sessions created, %d errors, %d clients failed\n",
			n_sessions, n_errors, failed);
		ok = 0;
	}
	pthread_mutex_unlock(&lock);
	(void) door_revoke(factory);

	if (!ok) {
		fprintf(stderr, "sessions: FAIL\n");
		return 1;
	}
	printf("sessions: all %d sessions cleaned up exactly once\n", n);
	return 0;
}
