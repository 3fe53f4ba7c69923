/* SPDX-License-Identifier: MIT */
/*
 * ncd.c — a name-service-like cache daemon, written as on illumos.
 *
 *   ncd PATH
 *
 * The daemon keeps a small in-memory key/value table and serves it through
 * a door attached to PATH, the way nscd(8) publishes /var/run/name_service_door:
 *
 *   1. create PATH if it is missing, fdetach() whatever stale door may still
 *      be attached to it (a previous daemon that was killed), door_create()
 *      the door and fattach() it to PATH — from then on a plain
 *      open(PATH, O_RDONLY) in a client gives the door (see nc.c), and the
 *      file's permissions decide who may open it;
 *   2. serve text requests, one per door_call():
 *        "GET key"        -> "VALUE <value>"   or "ERR not found"
 *        "PUT key value"  -> "OK"              (value: the rest, any bytes)
 *        "DEL key"        -> "OK"              or "ERR not found"
 *        "STATS"          -> "STATS entries=N gets=N hits=N puts=N dels=N denied=N"
 *      anything else gets "ERR usage";
 *   3. PUT and DEL change the table, so they are allowed only to callers
 *      whose effective uid is the daemon's: door_ucred() + ucred_geteuid()
 *      name the caller of *this* invocation (the kernel's word, not the
 *      client's); anybody else gets "ERR permission". GET and STATS are open
 *      to whoever could open PATH;
 *   4. print "ncd: ready" once attached; on SIGTERM or SIGINT fdetach() PATH
 *      (it names the plain file again), door_revoke() the door, exit 0.
 *
 * The door is created with DOOR_REFUSE_DESC (requests never carry
 * descriptors) and DOOR_PARAM_DATA_MAX bounds a request, so an oversized one
 * is refused by door_call() with ENOBUFS before any server thread sees it.
 * Replies are built in a per-thread buffer: door_return() never returns, so
 * nothing the procedure malloc()s per call could ever be freed; a buffer
 * owned by the thread and reused call after call can (pthread key
 * destructor). A large GET reply does not fit the client's buffer and comes
 * back in a fresh mapping (nc.c munmap()s it).
 *
 * Only <door.h>, <stropts.h>, <ucred.h> and POSIX.
 */
#define _POSIX_C_SOURCE 200809L
#include <door.h>
#include <stropts.h>
#include <ucred.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define KEY_MAX 255               /* bytes in a key */
#define VALUE_MAX (1024 * 1024)   /* bytes in a value */
#define REQUEST_MAX (4 + KEY_MAX + 1 + VALUE_MAX) /* "PUT " key ' ' value */
#define NBUCKETS 1024

/* ---- The table ---- */

struct entry {
	struct entry *next;
	char *key;
	char *value;
	size_t key_len;
	size_t value_len;
};

/* Everything below is protected by table_lock. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *buckets[NBUCKETS];
static unsigned long n_entries, n_gets, n_hits, n_puts, n_dels, n_denied;

static uid_t daemon_euid;

static size_t hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h % NBUCKETS;
}

/* Returns the link that points at key's entry (or the bucket's NULL end). */
static struct entry **lookup(const char *key, size_t len)
{
	struct entry **ep = &buckets[hash(key, len)];

	for (; *ep != NULL; ep = &(*ep)->next)
		if ((*ep)->key_len == len && memcmp((*ep)->key, key, len) == 0)
			break;
	return ep;
}

/* ---- Per-thread reply buffer ---- */

static pthread_key_t reply_key;

struct reply_buf {
	size_t cap;
	char data[];
};

/* Returns this thread's reply buffer with room for n bytes, or NULL. */
static char *reply_space(size_t n)
{
	struct reply_buf *rb = pthread_getspecific(reply_key);

	if (rb == NULL || rb->cap < n) {
		struct reply_buf *bigger = realloc(rb, sizeof *rb + n);

		if (bigger == NULL)
			return NULL;
		bigger->cap = n;
		rb = bigger;
		(void) pthread_setspecific(reply_key, rb);
	}
	return rb->data;
}

/*
 * door_return() that does not come back: if the results cannot be delivered
 * (E2BIG: the client called with door_call(d, NULL) and wants none), the
 * thread still has to end the invocation, so it returns without results.
 */
static _Noreturn void finish(char *data, size_t size)
{
	(void) door_return(data, size, NULL, 0);
	(void) door_return(NULL, 0, NULL, 0);
	pthread_exit(NULL); /* not reached */
}

/* finish() with a short text; never returns. */
static _Noreturn void reply_text(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof text)
		n = sizeof text - 1;
	/* door_return copies the reply out before the frame goes away. */
	finish(text, (size_t)n);
}

/* Whether the caller of the current invocation may change the table. */
static int caller_may_write(void)
{
	ucred_t *uc = NULL;
	int ok;

	if (door_ucred(&uc) != 0)
		return 0;
	ok = ucred_geteuid(uc) == daemon_euid;
	ucred_free(uc);
	return ok;
}

/* ---- The door procedure ---- */

/*
 * One request per call. argp is this thread's private copy of the request
 * (arg_size bytes, not NUL-terminated); it stays valid until door_return.
 */
static void serve(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
		  uint_t n_desc)
{
	const char *key, *value = NULL, *end = argp + arg_size, *sp;
	size_t key_len, value_len = 0;

	(void) cookie;
	(void) dp;
	(void) n_desc; /* DOOR_REFUSE_DESC: always 0 */

	if (argp == DOOR_UNREF_DATA || arg_size < 4) /* no unref was asked for */
		reply_text("ERR usage");

	if (arg_size == 5 && memcmp(argp, "STATS", 5) == 0) {
		unsigned long e, g, h, p, d, x;

		pthread_mutex_lock(&table_lock);
		e = n_entries;
		g = n_gets;
		h = n_hits;
		p = n_puts;
		d = n_dels;
		x = n_denied;
		pthread_mutex_unlock(&table_lock);
		reply_text("STATS entries=%lu gets=%lu hits=%lu puts=%lu dels=%lu denied=%lu",
			   e, g, h, p, d, x);
	}

	/* "OP key[ value]" */
	if (argp[3] != ' ')
		reply_text("ERR usage");
	key = argp + 4;
	sp = memchr(key, ' ', (size_t)(end - key));
	key_len = (size_t)((sp != NULL ? sp : end) - key);
	if (sp != NULL) {
		value = sp + 1;
		value_len = (size_t)(end - value);
	}
	if (key_len == 0 || key_len > KEY_MAX || value_len > VALUE_MAX)
		reply_text("ERR usage");

	if (memcmp(argp, "GET", 3) == 0 && value == NULL) {
		struct entry *e;
		char *out;

		pthread_mutex_lock(&table_lock);
		n_gets++;
		e = *lookup(key, key_len);
		if (e == NULL) {
			pthread_mutex_unlock(&table_lock);
			reply_text("ERR not found");
		}
		n_hits++;
		/* Copy under the lock: a DEL may free the entry right after. */
		out = reply_space(6 + e->value_len);
		if (out == NULL) {
			pthread_mutex_unlock(&table_lock);
			reply_text("ERR no memory");
		}
		memcpy(out, "VALUE ", 6);
		memcpy(out + 6, e->value, e->value_len);
		value_len = e->value_len;
		pthread_mutex_unlock(&table_lock);
		finish(out, 6 + value_len);
	}

	if (memcmp(argp, "PUT", 3) == 0 && value != NULL) {
		struct entry **ep, *e;
		char *k, *v;

		if (!caller_may_write()) {
			pthread_mutex_lock(&table_lock);
			n_denied++;
			pthread_mutex_unlock(&table_lock);
			reply_text("ERR permission");
		}
		k = malloc(key_len + 1);
		v = malloc(value_len + 1);
		if (k == NULL || v == NULL) {
			free(k);
			free(v);
			reply_text("ERR no memory");
		}
		memcpy(k, key, key_len);
		k[key_len] = '\0';
		memcpy(v, value, value_len);
		v[value_len] = '\0';

		pthread_mutex_lock(&table_lock);
		n_puts++;
		ep = lookup(k, key_len);
		if ((e = *ep) != NULL) { /* replace the value */
			free(e->value);
			free(k);
		} else if ((e = calloc(1, sizeof *e)) != NULL) {
			e->key = k;
			e->key_len = key_len;
			*ep = e;
			n_entries++;
		} else {
			pthread_mutex_unlock(&table_lock);
			free(k);
			free(v);
			reply_text("ERR no memory");
		}
		e->value = v;
		e->value_len = value_len;
		pthread_mutex_unlock(&table_lock);
		reply_text("OK");
	}

	if (memcmp(argp, "DEL", 3) == 0 && value == NULL) {
		struct entry **ep, *e;

		if (!caller_may_write()) {
			pthread_mutex_lock(&table_lock);
			n_denied++;
			pthread_mutex_unlock(&table_lock);
			reply_text("ERR permission");
		}
		pthread_mutex_lock(&table_lock);
		n_dels++;
		ep = lookup(key, key_len);
		if ((e = *ep) == NULL) {
			pthread_mutex_unlock(&table_lock);
			reply_text("ERR not found");
		}
		*ep = e->next;
		n_entries--;
		pthread_mutex_unlock(&table_lock);
		free(e->key);
		free(e->value);
		free(e);
		reply_text("OK");
	}

	reply_text("ERR usage");
}

/* ---- Start-up and shut-down ---- */

/*
 * SIGTERM/SIGINT: the handler only writes a byte to a pipe that main()
 * reads. Any thread may take the signal (libdoor's threads included); a
 * write() is async-signal-safe, and main() wakes up whichever thread it was.
 */
static int stop_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	(void) write(stop_pipe[1], &c, 1);
	errno = saved;
}

static void free_reply_buf(void *p)
{
	free(p);
}

int main(int argc, char **argv)
{
	const char *path;
	struct sigaction sa;
	int fd, door;
	char sig = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: ncd PATH\n");
		return 2;
	}
	path = argv[1];
	daemon_euid = geteuid();

	if (pipe(stop_pipe) != 0 ||
	    pthread_key_create(&reply_key, free_reply_buf) != 0) {
		perror("ncd: pipe");
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0) {
		perror("ncd: sigaction");
		return 1;
	}

	/* The illumos idiom: make sure the file exists, detach anything stale. */
	if ((fd = open(path, O_RDWR | O_CREAT, 0644)) < 0) {
		fprintf(stderr, "ncd: %s: %s\n", path, strerror(errno));
		return 1;
	}
	(void) close(fd);
	(void) fdetach(path); /* EINVAL when nothing was attached: fine */

	if ((door = door_create(serve, NULL, DOOR_REFUSE_DESC)) < 0) {
		perror("ncd: door_create");
		return 1;
	}
	if (door_setparam(door, DOOR_PARAM_DATA_MAX, REQUEST_MAX) != 0) {
		perror("ncd: door_setparam");
		return 1;
	}
	if (fattach(door, path) != 0) {
		fprintf(stderr, "ncd: fattach %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("ncd: ready\n");
	fflush(stdout);

	/* Server threads do the work; main only waits for a signal. */
	while (read(stop_pipe[0], &sig, 1) != 1)
		if (errno != EINTR) {
			perror("ncd: read");
			break;
		}

	if (fdetach(path) != 0)
		fprintf(stderr, "ncd: fdetach %s: %s\n", path, strerror(errno));
	(void) door_revoke(door);
	printf("ncd: %s, detached %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
	       path);
	fflush(stdout);
	return 0;
}
