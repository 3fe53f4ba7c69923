/* SPDX-License-Identifier: MIT */
/*
 * nc.c — the client of the ncd cache daemon (ncd.c), written as on illumos.
 *
 *   nc PATH get KEY
 *   nc PATH put KEY VALUE...
 *   nc PATH del KEY
 *   nc PATH stats
 *
 * A plain open(PATH, O_RDONLY) gives the door the daemon fattach()ed to PATH
 * (the file's permissions decide who may open it); door_info() tells a door
 * from the plain file a path names when no daemon is attached. One
 * door_call() per command, with a small result buffer on the stack: a reply
 * that does not fit comes back in a fresh mapping — door_call() then changed
 * rbuf/rsize — which the caller must munmap().
 *
 * Output: `get` prints the value, `put`/`del` print "OK", `stats` prints the
 * daemon's counters; an error reply ("ERR ...") goes to stderr.
 * Exit status: 0 done, 1 key not found, 2 refused by the daemon ("ERR
 * permission" or another error reply), 3 the daemon cannot be reached (no
 * door at PATH, door_call failed), 64 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <door.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXIT_NOTFOUND 1
#define EXIT_REFUSED 2
#define EXIT_UNREACHABLE 3
#define EXIT_USAGE 64

static int usage(void)
{
	fprintf(stderr, "usage: nc PATH get KEY\n"
			"       nc PATH put KEY VALUE...\n"
			"       nc PATH del KEY\n"
			"       nc PATH stats\n");
	return EXIT_USAGE;
}

/* Keys are single words: the request separates fields with a space. */
static int valid_key(const char *key)
{
	return key[0] != '\0' && strpbrk(key, " \t\n") == NULL &&
	       strlen(key) <= 255;
}

int main(int argc, char **argv)
{
	const char *path, *cmd, *op;
	char rbuf[512];
	char *req;
	size_t req_len;
	door_arg_t arg;
	door_info_t info;
	int door, status;

	if (argc < 3)
		return usage();
	path = argv[1];
	cmd = argv[2];
	if (strcmp(cmd, "get") == 0 && argc == 4)
		op = "GET";
	else if (strcmp(cmd, "put") == 0 && argc >= 5) /* words joined by ' ' */
		op = "PUT";
	else if (strcmp(cmd, "del") == 0 && argc == 4)
		op = "DEL";
	else if (strcmp(cmd, "stats") == 0 && argc == 3)
		op = "STATS";
	else
		return usage();
	if (argc >= 4 && !valid_key(argv[3])) {
		fprintf(stderr, "nc: a key is 1 to 255 bytes without blanks\n");
		return EXIT_USAGE;
	}

	/* "OP", "OP key" or "OP key value": no terminating NUL is sent. */
	req_len = strlen(op);
	for (int i = 3; i < argc; i++)
		req_len += 1 + strlen(argv[i]);
	if ((req = malloc(req_len + 1)) == NULL) {
		perror("nc: malloc");
		return EXIT_UNREACHABLE;
	}
	strcpy(req, op);
	for (int i = 3; i < argc; i++) {
		strcat(req, " ");
		strcat(req, argv[i]);
	}

	if ((door = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "nc: %s: %s\n", path, strerror(errno));
		return EXIT_UNREACHABLE;
	}
	if (door_info(door, &info) != 0) {
		fprintf(stderr, "nc: %s: no daemon attached (not a door)\n", path);
		return EXIT_UNREACHABLE;
	}

	arg.data_ptr = req;
	arg.data_size = req_len;
	arg.desc_ptr = NULL;
	arg.desc_num = 0;
	arg.rbuf = rbuf;
	arg.rsize = sizeof rbuf;
	if (door_call(door, &arg) != 0) {
		int e = errno;

		fprintf(stderr, "nc: door_call: %s%s\n", strerror(e),
			e == ENOBUFS ? " (request too large for the daemon)" :
			e == EBADF ? " (the daemon went away)" : "");
		return EXIT_UNREACHABLE;
	}
	free(req);
	(void) close(door);

	/* The reply is arg.data_size bytes at arg.data_ptr, not NUL-terminated. */
	if (arg.data_size >= 6 && memcmp(arg.data_ptr, "VALUE ", 6) == 0) {
		fwrite(arg.data_ptr + 6, 1, arg.data_size - 6, stdout);
		putchar('\n');
		status = 0;
	} else if (arg.data_size >= 3 && memcmp(arg.data_ptr, "ERR", 3) == 0) {
		fprintf(stderr, "%.*s\n", (int)arg.data_size, arg.data_ptr);
		status = arg.data_size == 13 &&
				 memcmp(arg.data_ptr, "ERR not found", 13) == 0
			 ? EXIT_NOTFOUND : EXIT_REFUSED;
	} else {
		printf("%.*s\n", (int)arg.data_size, arg.data_ptr);
		status = 0;
	}

	/* Results that did not fit rbuf were placed in a mapping of their own. */
	if (arg.rbuf != rbuf && munmap(arg.rbuf, arg.rsize) != 0) {
		perror("nc: munmap");
		status = EXIT_UNREACHABLE;
	}
	if (fflush(stdout) != 0)
		status = EXIT_UNREACHABLE;
	return status;
}
