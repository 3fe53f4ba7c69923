/* SPDX-License-Identifier: MIT */
/*
 * consumer.c — a C program built against an installed libdoor (<door.h>,
 * -ldoor) by tests/consumer/run.sh: creates a door, calls it, checks the
 * reply and door_info. Exit 0 on success.
 */
#include <door.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void upcase(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd) {
	char out[64];
	size_t i;
	(void)cookie, (void)dp, (void)nd;
	if (n > sizeof out)
		n = sizeof out;
	for (i = 0; i < n; i++)
		out[i] = (argp[i] >= 'a' && argp[i] <= 'z') ? (char)(argp[i] - 32) : argp[i];
	door_return(out, n, NULL, 0);
}

int main(void) {
	char rbuf[64];
	door_arg_t a;
	door_info_t info;
	int d = door_create(upcase, NULL, 0);
	if (d < 0) {
		perror("door_create");
		return 1;
	}
	memset(&a, 0, sizeof a);
	a.data_ptr = "hello";
	a.data_size = 5;
	a.rbuf = rbuf;
	a.rsize = sizeof rbuf;
	if (door_call(d, &a) != 0) {
		perror("door_call");
		return 1;
	}
	if (a.data_size != 5 || memcmp(a.data_ptr, "HELLO", 5) != 0) {
		fprintf(stderr, "bad reply\n");
		return 1;
	}
	if (door_info(d, &info) != 0 || info.di_target != getpid() || !(info.di_attributes & DOOR_LOCAL)) {
		fprintf(stderr, "bad door_info\n");
		return 1;
	}
	printf("c consumer: libdoor %s: %.*s\n", door_version_np(), (int)a.data_size, a.data_ptr);
	return door_revoke(d) == 0 ? 0 : 1;
}
