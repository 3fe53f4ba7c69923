// SPDX-License-Identifier: MIT
//
// test_unref.cpp — unreferenced notifications (DOOR_UNREF, DOOR_UNREF_MULTI)
// and DOOR_IS_UNREF, with the reference rule of userspace/unref.cpp: each
// door handed out by its creator through libdoor (door_return/door_call
// descriptors, open() of an fattach'ed path) is a reference; dups, fork
// copies and onward passes of it share that reference; the creator's own
// descriptors are "the one".
#include <door.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stropts.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <string>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ServerProcess;

namespace {

struct Shared {
  std::atomic<int> unrefs;        ///< unref invocations seen
  std::atomic<int> bad_args;      ///< unref invocations with wrong arguments
  std::atomic<int> ucred_einval;  ///< door_ucred failed with EINVAL inside them
  std::atomic<long> last_unref_ns;
  std::atomic<long> call_end_ns;
  std::atomic<int> door_fd;       ///< the unref door's descriptor in the server
};
Shared *g;

long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The door under test: counts unref invocations; "sleep" blocks 400 ms.
void target_proc(void *, char *argp, size_t n, door_desc_t *dp, uint_t nd) {
  if (argp == DOOR_UNREF_DATA) {
    if (n != 0 || dp != nullptr || nd != 0) g->bad_args++;
    ucred_t *uc = nullptr;
    if (door_ucred(&uc) == -1 && errno == EINVAL) g->ucred_einval++;
    g->last_unref_ns = now_ns();
    g->unrefs++;
    door_return(nullptr, 0, nullptr, 0);
  }
  if (n == 5 && std::memcmp(argp, "sleep", 5) == 0) {
    usleep(400 * 1000);
    g->call_end_ns = now_ns();
  }
  door_return(argp, n, nullptr, 0);
}

/// Control door: "give" returns the target door (a new reference), "info"
/// returns door_info()'s attributes of the target as seen by its creator.
void control_proc(void *, char *argp, size_t n, door_desc_t *, uint_t) {
  if (n == 4 && std::memcmp(argp, "give", 4) == 0) {
    door_desc_t d{};
    d.d_attributes = DOOR_DESCRIPTOR;  // no DOOR_RELEASE: the server keeps its own
    d.d_data.d_desc.d_descriptor = g->door_fd;
    door_return(nullptr, 0, &d, 1);
  }
  door_info_t info{};
  door_info(g->door_fd, &info);
  door_return(reinterpret_cast<char *>(&info.di_attributes), sizeof info.di_attributes, nullptr, 0);
}

ServerProcess start(unsigned attrs) {
  g = static_cast<Shared *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (g) Shared{};
  static unsigned s_attrs;
  s_attrs = attrs;
  return ServerProcess(
      [] {
        g->door_fd = door_create(target_proc, nullptr, s_attrs);
        return std::vector<int>{door_create(control_proc, nullptr, 0)};
      });
}

int take(int control) {
  alignas(8) char rbuf[128];
  door_arg_t a{const_cast<char *>("give"), 4, nullptr, 0, rbuf, sizeof rbuf};
  if (door_call(control, &a) != 0 || a.desc_num != 1) return -1;
  return a.desc_ptr[0].d_data.d_desc.d_descriptor;
}

unsigned attrs_at_creator(int control) {
  unsigned v = 0;
  door_arg_t a{const_cast<char *>("info"), 4, nullptr, 0, reinterpret_cast<char *>(&v), sizeof v};
  return door_call(control, &a) == 0 ? v : 0xffffffffu;
}

bool wait_for(const std::function<bool()> &cond, int ms = 3000) {
  for (int i = 0; i < ms / 5; i++) {
    if (cond()) return true;
    usleep(5000);
  }
  return cond();
}

}  // namespace

TEST(Unref, DeliveredWhenTheHandedOutReferenceCloses) {
  ServerProcess srv = start(DOOR_UNREF);
  int c = srv.door();
  EXPECT_TRUE(attrs_at_creator(c) & DOOR_IS_UNREF) << "only the creator's reference exists";
  int d = take(c);
  ASSERT_GE(d, 0);
  EXPECT_FALSE(attrs_at_creator(c) & DOOR_IS_UNREF);
  EXPECT_EQ(call_str(d, "hi"), "hi");
  usleep(100 * 1000);
  EXPECT_EQ(g->unrefs.load(), 0) << "no notification while the reference is held";
  close(d);
  ASSERT_TRUE(wait_for([] { return g->unrefs.load() == 1; }));
  EXPECT_EQ(g->bad_args.load(), 0) << "argp DOOR_UNREF_DATA, size 0, no descriptors";
  EXPECT_EQ(g->ucred_einval.load(), 1) << "an unref invocation has no caller";
  unsigned a = attrs_at_creator(c);
  EXPECT_TRUE(a & DOOR_IS_UNREF);
  EXPECT_FALSE(a & DOOR_UNREF) << "DOOR_UNREF is cleared once its notification is queued";
}

TEST(Unref, PlainUnrefIsDeliveredOnlyOnce) {
  ServerProcess srv = start(DOOR_UNREF);
  for (int i = 0; i < 3; i++) {
    int d = take(srv.door());
    ASSERT_GE(d, 0);
    close(d);
    usleep(150 * 1000);
  }
  EXPECT_EQ(g->unrefs.load(), 1);
}

TEST(Unref, MultiIsDeliveredOnEveryDropToOne) {
  ServerProcess srv = start(DOOR_UNREF_MULTI);
  for (int i = 1; i <= 3; i++) {
    int d = take(srv.door());
    ASSERT_GE(d, 0);
    close(d);
    ASSERT_TRUE(wait_for([i] { return g->unrefs.load() == i; })) << "drop " << i;
  }
  EXPECT_TRUE(attrs_at_creator(srv.door()) & DOOR_UNREF_MULTI) << "DOOR_UNREF_MULTI stays";
}

TEST(Unref, TwoReferencesNotifyOnlyWhenBothAreGone) {
  ServerProcess srv = start(DOOR_UNREF_MULTI);
  int a = take(srv.door()), b = take(srv.door());
  close(a);
  usleep(200 * 1000);
  EXPECT_EQ(g->unrefs.load(), 0) << "two references were out; one is still held";
  close(b);
  EXPECT_TRUE(wait_for([] { return g->unrefs.load() == 1; }));
}

TEST(Unref, DupsAndForkCopiesShareTheirReference) {
  ServerProcess srv = start(DOOR_UNREF_MULTI);
  int d = take(srv.door());
  int copy = dup(d);
  pid_t child = fork();
  if (child == 0) {
    usleep(300 * 1000);  // holds its inherited copies for a while
    _exit(0);
  }
  close(d);
  usleep(100 * 1000);
  EXPECT_EQ(g->unrefs.load(), 0) << "the dup still refers to the door";
  close(copy);
  usleep(100 * 1000);
  EXPECT_EQ(g->unrefs.load(), 0) << "the fork child still holds its copies";
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(wait_for([] { return g->unrefs.load() == 1; })) << "child exit closed the last copy";
}

TEST(Unref, ProcessDeathReleasesItsReferences) {
  ServerProcess srv = start(DOOR_UNREF);
  int c = srv.door();
  pid_t child = fork();
  if (child == 0) {
    int d = take(c);
    _exit(d >= 0 && call_str(d, "x") == "x" ? 0 : 1);  // exits without closing
  }
  int st;
  waitpid(child, &st, 0);
  ASSERT_EQ(WEXITSTATUS(st), 0);
  EXPECT_TRUE(wait_for([] { return g->unrefs.load() == 1; }));
}

TEST(Unref, DelayedWhileInvocationsAreActive) {
  ServerProcess srv = start(DOOR_UNREF);
  int d = take(srv.door());
  int other = take(srv.door());  // calls go through this one
  close(d);  // still two references (creator + other): nothing yet
  std::thread caller([&] { call_str(other, "sleep"); });
  usleep(100 * 1000);
  close(other);  // drop to one while "sleep" runs
  caller.join();
  ASSERT_TRUE(wait_for([] { return g->unrefs.load() == 1; }));
  EXPECT_GE(g->last_unref_ns.load(), g->call_end_ns.load()) << "delivered before the active call finished";
}

TEST(Unref, EachOpenOfAnAttachedPathIsAReference) {
  std::string dir = doortest::temp_dir("/var/tmp/unreftest.XXXXXX");
  static std::string path;
  path = dir + "/door";
  ::close(::open(path.c_str(), O_CREAT | O_WRONLY, 0644));
  g = static_cast<Shared *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (g) Shared{};
  {
    ServerProcess srv([] {
      int d = door_create(target_proc, nullptr, DOOR_UNREF_MULTI);
      if (fattach(d, path.c_str()) != 0) _exit(3);
      close(d);  // Stevens' serverunref: the attachment keeps the door
      return std::vector<int>{door_create(control_proc, nullptr, 0)};
    });
    for (int i = 1; i <= 2; i++) {
      int a = open(path.c_str(), O_RDONLY);
      int b = open(path.c_str(), O_RDONLY);
      ASSERT_EQ(call_str(a, "p"), "p");
      close(a);
      usleep(100 * 1000);
      EXPECT_EQ(g->unrefs.load(), i - 1) << "the second open is still a reference";
      close(b);
      ASSERT_TRUE(wait_for([i] { return g->unrefs.load() == i; }));
    }
  }
  fdetach(path.c_str());
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST(Unref, DoorsWithoutUnrefAreNotNotified) {
  ServerProcess srv = start(0);
  int d = take(srv.door());
  close(d);
  usleep(200 * 1000);
  EXPECT_EQ(g->unrefs.load(), 0);
}
