/* SPDX-License-Identifier: MIT
 *
 * foreign_library.c — a library that does not link libdoor, like most of
 * a program's libraries: its calls to libc functions libdoor interposes
 * must reach libdoor all the same.
 *
 * Preloaded with DOOR_TEST_EARLY_HANDLER set, its constructor installs a
 * signal handler before libdoor's constructor has run
 * (test_caught_signals.cpp: HandlersInstalledBeforeLibdoorAreWrapped).
 * dlopen()ed, it closes a descriptor (test_errno.cpp:
 * EBADF_DoorClosedByAnotherLibrary). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

volatile sig_atomic_t early_handler_runs = 0;

void early_handler(int sig) {
  (void)sig;
  early_handler_runs = early_handler_runs + 1;
}

__attribute__((constructor)) static void install_early_handler(void) {
  if (!getenv("DOOR_TEST_EARLY_HANDLER")) return;
  struct sigaction sa = {0};
  sa.sa_handler = early_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, 0);
}

int foreign_close(int fd) { return close(fd); }
