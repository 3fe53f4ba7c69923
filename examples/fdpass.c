/* SPDX-License-Identifier: MIT */
/*
 * fdpass.c — descriptor passing through a door, both ways, written as on
 * illumos.
 *
 *   fdpass              self-test: serves a fresh temporary directory
 *   fdpass DIR FILE     serves DIR, the client fetches FILE (relative to DIR)
 *
 * The parent creates a "file server" door and forks a client child, which
 * inherits the door descriptor (a door survives fork(): the child's calls
 * reach the parent, and door_info() shows the parent as di_target, without
 * DOOR_LOCAL).
 *
 *   1. Server -> client. "OPEN name": the server opens name read-only
 *      beneath DIR and returns the open file as DOOR_DESCRIPTOR |
 *      DOOR_RELEASE — the client gets a descriptor of its own and the
 *      server's copy is closed once passed. The client reads the file
 *      through it. Anything outside DIR is refused: absolute names, ".."
 *      components and symbolic links (each component is opened with openat()
 *      relative to the previous one and O_NOFOLLOW, so no rename or symlink
 *      race can lead the server out of DIR), and anything but a regular file
 *      (opened O_NONBLOCK so that a FIFO cannot hang a server thread).
 *   2. Client -> server. "GREET" carries the write end of a pipe, passed
 *      DOOR_DESCRIPTOR | DOOR_RELEASE: the server writes a greeting into it
 *      and closes it; the client reads the greeting and then sees EOF, which
 *      proves that DOOR_RELEASE closed the client's own write end.
 *
 * Exit status 0 when every step behaved; "FAIL: ..." and 1 otherwise.
 * Only <door.h> and POSIX.
 */
#define _POSIX_C_SOURCE 200809L
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 20   /* the child must be done by then */
#define GREETING "hello through your own pipe"

static const char *role = "parent";

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fdpass %s: FAIL: ", role);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- The server ---- */

/*
 * Opens `name` (NUL-terminated, relative) read-only beneath the directory
 * dirfd, one component at a time. Returns the descriptor, or -1 with errno:
 * EPERM for names that would leave the directory, ELOOP for a symbolic link,
 * EINVAL for anything but a regular file.
 */
static int open_beneath(int dirfd, char *name)
{
	char *comp, *next, *save = NULL;
	size_t len = strlen(name);
	struct stat st;
	int cur, fd;

	/* Refuse a name that could leave dirfd before opening anything. */
	if (name[0] == '/' || name[0] == '\0' || strcmp(name, "..") == 0 ||
	    strncmp(name, "../", 3) == 0 || strstr(name, "/../") != NULL ||
	    (len >= 3 && strcmp(name + len - 3, "/..") == 0)) {
		errno = EPERM;
		return -1;
	}
	if ((cur = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	for (comp = strtok_r(name, "/", &save); comp != NULL; comp = next) {
		next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, ".") == 0)
			continue;
		fd = openat(cur, comp,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
				    (next != NULL ? O_DIRECTORY : 0));
		(void) close(cur);
		if (fd < 0)
			return -1; /* ELOOP: a symbolic link */
		cur = fd;
	}
	if (fstat(cur, &st) != 0 || !S_ISREG(st.st_mode) ||
	    fcntl(cur, F_SETFL, 0) != 0) { /* back to blocking reads */
		(void) close(cur);
		errno = EINVAL;
		return -1;
	}
	return cur;
}

/* finish() with a text and no descriptors; never returns. */
static _Noreturn void reply(const char *text)
{
	(void) door_return((char *)text, strlen(text), NULL, 0);
	(void) door_return(NULL, 0, NULL, 0); /* the client wanted no results */
	abort();
}

/* The door procedure; cookie points at the served directory's descriptor. */
static void file_server(void *cookie, char *argp, size_t arg_size,
			door_desc_t *dp, uint_t n_desc)
{
	int dirfd = *(int *)cookie;
	int passed = -1; /* the one descriptor GREET may carry */
	char name[1024], text[128];

	/* Received descriptors are ours now: keep the expected one, close the rest. */
	for (uint_t i = 0; i < n_desc; i++) {
		if (!(dp[i].d_attributes & DOOR_DESCRIPTOR))
			continue;
		if (i == 0 && n_desc == 1)
			passed = dp[i].d_data.d_desc.d_descriptor;
		else
			(void) close(dp[i].d_data.d_desc.d_descriptor);
	}

	if (argp == NULL || argp == DOOR_UNREF_DATA) {
		if (passed >= 0)
			(void) close(passed);
		reply("ERR usage");
	}

	if (arg_size == 5 && memcmp(argp, "GREET", 5) == 0) {
		ssize_t n;

		if (passed < 0)
			reply("ERR GREET needs a descriptor");
		snprintf(text, sizeof text, GREETING " (server pid %d)\n",
			 (int)getpid());
		n = write(passed, text, strlen(text));
		(void) close(passed);
		reply(n == (ssize_t)strlen(text) ? "OK" : "ERR write failed");
	}

	if (passed >= 0) {
		(void) close(passed);
		reply("ERR unexpected descriptor");
	}
	if (arg_size > 5 && arg_size - 5 < sizeof name &&
	    memcmp(argp, "OPEN ", 5) == 0) {
		door_desc_t desc;
		int fd;

		memcpy(name, argp + 5, arg_size - 5);
		name[arg_size - 5] = '\0';
		if (memchr(name, '\0', arg_size - 5) != NULL)
			reply("ERR usage");
		if ((fd = open_beneath(dirfd, name)) < 0) {
			int e = errno;

			if (e == EPERM)
				reply("ERR outside the served directory");
			if (e == ELOOP)
				reply("ERR symbolic link refused");
			if (e == EINVAL)
				reply("ERR not a regular file");
			snprintf(text, sizeof text, "ERR %s", strerror(e));
			reply(text);
		}
		desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
		desc.d_data.d_desc.d_descriptor = fd;
		/* DOOR_RELEASE: fd is closed here once it has been passed. */
		(void) door_return("OK", 2, &desc, 1);
		(void) close(fd); /* not delivered (the client asked for no results) */
		(void) door_return(NULL, 0, NULL, 0);
		abort();
	}
	reply("ERR usage");
}

/* ---- The client (the forked child) ---- */

/*
 * Calls the door with `req` and `nd` descriptors. The reply text goes to
 * `text` (NUL-terminated); a returned descriptor to *fdp (else -1).
 */
static void call(int door, const char *req, door_desc_t *dp, uint_t nd,
		 char *text, size_t text_size, int *fdp)
{
	char rbuf[256];
	door_arg_t arg = { (char *)req, strlen(req), dp, nd, rbuf, sizeof rbuf };
	size_t n;

	if (door_call(door, &arg) != 0)
		die("door_call(\"%s\"): %s", req, strerror(errno));
	n = arg.data_size < text_size - 1 ? arg.data_size : text_size - 1;
	memcpy(text, arg.data_ptr, n);
	text[n] = '\0';
	*fdp = -1;
	if (arg.desc_num > 1)
		die("\"%s\": %u descriptors came back", req, arg.desc_num);
	if (arg.desc_num == 1) {
		if (!(arg.desc_ptr[0].d_attributes & DOOR_DESCRIPTOR))
			die("\"%s\": a result without DOOR_DESCRIPTOR", req);
		*fdp = arg.desc_ptr[0].d_data.d_desc.d_descriptor;
	}
	if (arg.rbuf != rbuf) /* the results did not fit: a mapping of their own */
		(void) munmap(arg.rbuf, arg.rsize);
}

/* Fetches `name` through the door and returns its contents (malloc'd). */
static char *fetch(int door, const char *name)
{
	char req[1100], text[256], *buf = NULL;
	size_t len = 0, cap = 0;
	door_info_t di;
	ssize_t n;
	int fd;

	snprintf(req, sizeof req, "OPEN %s", name);
	call(door, req, NULL, 0, text, sizeof text, &fd);
	if (strcmp(text, "OK") != 0 || fd < 0)
		die("OPEN %s: \"%s\"%s", name, text,
		    fd < 0 ? ", no descriptor" : "");
	if (door_info(fd, &di) == 0)
		die("OPEN %s: the descriptor received is a door", name);
	for (;;) { /* the descriptor is an ordinary open file: read it */
		if (len + 4096 + 1 > cap &&
		    (buf = realloc(buf, cap = 2 * cap + 4096 + 1)) == NULL)
			die("out of memory");
		if ((n = read(fd, buf + len, 4096)) < 0)
			die("read %s: %s", name, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	(void) close(fd);
	printf("client: %s through the received descriptor (%zu bytes):\n%s%s",
	       name, len, buf, len > 0 && buf[len - 1] == '\n' ? "" : "\n");
	return buf;
}

/* Asks for `name` and checks that the server refuses with `expect`. */
static void refused(int door, const char *name, const char *expect)
{
	char req[1100], text[256];
	int fd;

	snprintf(req, sizeof req, "OPEN %s", name);
	call(door, req, NULL, 0, text, sizeof text, &fd);
	if (fd >= 0 || strcmp(text, expect) != 0)
		die("OPEN %s: got \"%s\"%s, expected \"%s\"", name, text,
		    fd >= 0 ? " and a descriptor" : "", expect);
	printf("client: %-22s refused: %s\n", name, text);
}

/* Passes a pipe's write end to the server, reads what it wrote. */
static void greet(int door)
{
	door_desc_t desc;
	char text[256], got[256];
	size_t len = 0;
	int p[2], fd;

	if (pipe(p) != 0)
		die("pipe: %s", strerror(errno));
	desc.d_attributes = DOOR_DESCRIPTOR | DOOR_RELEASE;
	desc.d_data.d_desc.d_descriptor = p[1];
	/* DOOR_RELEASE: door_call closes p[1] here once it has been passed. */
	call(door, "GREET", &desc, 1, text, sizeof text, &fd);
	if (strcmp(text, "OK") != 0 || fd >= 0)
		die("GREET: \"%s\"", text);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t n;

		/* EOF only comes if no write end is left open anywhere. */
		if (poll(&pfd, 1, 5000) != 1)
			die("GREET: no EOF on the pipe (is the write end still open?)");
		if ((n = read(p[0], got + len, sizeof got - 1 - len)) < 0)
			die("GREET: read: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof got - 1)
			die("GREET: too much data");
	}
	got[len] = '\0';
	(void) close(p[0]);
	if (strncmp(got, GREETING, strlen(GREETING)) != 0)
		die("GREET: the pipe carried \"%s\"", got);
	printf("client: the server wrote into our pipe: %s", got);
}

static int client(int door, pid_t server, const char *file, const char *expect)
{
	door_info_t di;
	char *data;

	role = "client";
	alarm(DEADLINE_S); /* never outlive a stuck parent */
	if (door_info(door, &di) != 0)
		die("door_info: %s", strerror(errno));
	if (di.di_target != server || (di.di_attributes & DOOR_LOCAL))
		die("door_info: target %d attributes %#x (server is %d)",
		    (int)di.di_target, di.di_attributes, (int)server);

	data = fetch(door, file);
	if (expect != NULL && strcmp(data, expect) != 0)
		die("%s: contents differ from what the parent wrote", file);
	free(data);
	if (expect != NULL) { /* the self-test's tree (see make_tree) */
		data = fetch(door, "./sub//inner.txt");
		if (strcmp(data, "inner\n") != 0)
			die("sub/inner.txt: wrong contents");
		free(data);
		refused(door, "escape", "ERR symbolic link refused");
		refused(door, "sub", "ERR not a regular file");
		refused(door, "missing.txt", "ERR No such file or directory");
	}
	refused(door, "/etc/passwd", "ERR outside the served directory");
	refused(door, "../etc/passwd", "ERR outside the served directory");
	refused(door, "sub/../../etc/passwd", "ERR outside the served directory");
	greet(door);
	fflush(stdout);
	return 0;
}

/* ---- The self-test's directory ---- */

static char tmpdir[] = "/tmp/fdpass.XXXXXX";
static const char hello[] = "Hello from a file the client could not name.\n"
			    "It came through a door as a descriptor.\n";

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    close(fd) != 0)
		die("%s: %s", path, strerror(errno));
}

static pid_t tree_owner; /* the process that made the tree removes it */

/* atexit handler of the self-test: runs on every exit of the parent. */
static void remove_tree(void)
{
	static const char *const names[] = { "hello.txt", "sub/inner.txt",
					     "sub", "escape" };
	char path[256];

	if (getpid() != tree_owner)
		return;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
		(void) remove(path);
	}
	(void) rmdir(tmpdir);
}

/* DIR/hello.txt, DIR/sub/inner.txt, DIR/escape -> /etc/passwd */
static void make_tree(void)
{
	char path[256];

	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	tree_owner = getpid();
	if (atexit(remove_tree) != 0)
		die("atexit failed");
	snprintf(path, sizeof path, "%s/hello.txt", tmpdir);
	write_file(path, hello);
	snprintf(path, sizeof path, "%s/sub", tmpdir);
	if (mkdir(path, 0755) != 0)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof path, "%s/sub/inner.txt", tmpdir);
	write_file(path, "inner\n");
	snprintf(path, sizeof path, "%s/escape", tmpdir);
	if (symlink("/etc/passwd", path) != 0)
		die("%s: %s", path, strerror(errno));
}

int main(int argc, char **argv)
{
	const char *dir, *file, *expect = NULL;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int dirfd, door, status, waited = 0;
	pid_t child, got;

	if (argc == 3) {
		dir = argv[1];
		file = argv[2];
	} else if (argc == 1) {
		make_tree();
		dir = tmpdir;
		file = "hello.txt";
		expect = hello;
	} else {
		fprintf(stderr, "usage: fdpass [DIR FILE]\n");
		return 2;
	}

	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die("%s: %s", dir, strerror(errno));
	/* The cookie is readable by every holder (door_info): no secrets in it. */
	if ((door = door_create(file_server, &dirfd, 0)) < 0)
		die("door_create: %s", strerror(errno));
	printf("server: serving %s (pid %d)\n", dir, (int)getpid());
	fflush(stdout); /* before fork: nothing buffered twice */

	if ((child = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (child == 0)
		exit(client(door, getppid(), file, expect));

	/* The parent's pool threads serve the child; main waits, with a deadline. */
	while ((got = waitpid(child, &status, WNOHANG)) == 0 &&
	       waited++ < DEADLINE_S * 100)
		nanosleep(&tick, NULL);
	if (got == 0) {
		(void) kill(child, SIGKILL);
		(void) waitpid(child, &status, 0);
		die("the client did not finish in %d s", DEADLINE_S);
	}
	if (door_revoke(door) != 0)
		die("door_revoke: %s", strerror(errno));
	(void) close(dirfd);
	if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the client failed (status %#x)", status);
	printf("fdpass: ok\n");
	return 0;
}
