// SPDX-License-Identifier: MIT
//
// test_fattach.cpp — doors in the file-system name space: fattach(),
// plain open() of the path in another process, fdetach(), and the errnos
// of fattach(3C)/fdetach(3C).
#include <door.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stropts.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ServerProcess;

namespace {

/// A fresh file in a fresh directory (removed at the end).
struct TempFile {
  std::string dir, path;
  TempFile() {
    dir = doortest::temp_dir("/var/tmp/doortest.XXXXXX");  // ext4 here: user xattrs work
    chmod(dir.c_str(), 0755);
    path = dir + "/door";
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
    (void)!write(fd, "plain file", 10);
    close(fd);
  }
  ~TempFile() {
    fdetach(path.c_str());
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
};

bool is_door(int fd) {
  door_info_t i;
  return door_info(fd, &i) == 0;
}

/// Runs `fn` as an unprivileged user in a child; returns its exit code.
template <class Fn>
int as_nobody(Fn fn) {
  pid_t c = fork();
  if (c == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
    _exit(fn());
  }
  int st;
  waitpid(c, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

}  // namespace

TEST(Fattach, PlainOpenInAnotherProcessYieldsTheDoor) {
  TempFile f;
  static std::string path;
  path = f.path;
  ServerProcess srv([] {
    int d = door_create(doortest::echo_proc, nullptr, 0);
    if (fattach(d, path.c_str()) != 0) _exit(3);
    // Stevens' serverunref: the server may close its own descriptor.
    close(d);
    int ready[2];
    (void)!pipe(ready);
    return std::vector<int>{ready[0]};
  });
  for (int flags : {O_RDONLY, O_RDWR}) {
    int d = open(f.path.c_str(), flags);
    ASSERT_GE(d, 0) << strerror(errno);
    EXPECT_TRUE(is_door(d));
    door_info_t info;
    ASSERT_EQ(door_info(d, &info), 0);
    EXPECT_EQ(info.di_target, srv.pid());
    EXPECT_EQ(call_str(d, "via path"), "via path");
    close(d);
  }
}

TEST(Fattach, OpenHonoursCloseOnExecFlag) {
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  ASSERT_EQ(fattach(d, f.path.c_str()), 0) << strerror(errno);
  int a = open(f.path.c_str(), O_RDONLY);
  int b = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_TRUE(is_door(a));
  EXPECT_TRUE(is_door(b));
  EXPECT_EQ(fcntl(a, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(call_str(a, "a"), "a");
  close(a);
  close(b);
  close(d);
}

TEST(Fdetach, PathNamesTheFileAgainOldDescriptorsStayDoors) {
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  ASSERT_EQ(fattach(d, f.path.c_str()), 0);
  int before = open(f.path.c_str(), O_RDONLY);
  ASSERT_TRUE(is_door(before));
  ASSERT_EQ(fdetach(f.path.c_str()), 0);
  int after = open(f.path.c_str(), O_RDONLY);
  EXPECT_FALSE(is_door(after));
  char buf[16] = {};
  EXPECT_EQ(read(after, buf, sizeof buf), 10);
  EXPECT_STREQ(buf, "plain file");
  EXPECT_EQ(call_str(before, "kept"), "kept");
  close(before);
  close(after);
  close(d);
}

TEST(Fattach, StaleAttachmentOfDeadServerOpensAsFileAndCanBeReplaced) {
  TempFile f;
  static std::string path;
  path = f.path;
  {
    ServerProcess srv([] {
      int d = door_create(doortest::echo_proc, nullptr, 0);
      if (fattach(d, path.c_str()) != 0) _exit(3);
      return std::vector<int>{d};
    });
    int d = open(f.path.c_str(), O_RDONLY);
    EXPECT_TRUE(is_door(d));
    close(d);
  }  // server killed
  int plain = open(f.path.c_str(), O_RDONLY);
  EXPECT_FALSE(is_door(plain));
  close(plain);
  int mine = door_create(doortest::echo_proc, nullptr, 0);
  EXPECT_EQ(fattach(mine, f.path.c_str()), 0) << "a dead server's attachment is not EBUSY";
  close(mine);
}

TEST(Fattach, EBADF_BadDescriptor) {
  TempFile f;
  EXPECT_EQ(fattach(-1, f.path.c_str()), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(fattach(9999, f.path.c_str()), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(Fattach, EINVAL_NotADoor) {
  TempFile f;
  int fd = ::open("/dev/null", O_RDONLY);
  EXPECT_EQ(fattach(fd, f.path.c_str()), -1);
  EXPECT_EQ(errno, EINVAL);
  close(fd);
}

TEST(Fattach, ENOENT_PathMissing) {
  int d = door_create(doortest::echo_proc, nullptr, 0);
  EXPECT_EQ(fattach(d, "/var/tmp/no/such/door"), -1);
  EXPECT_EQ(errno, ENOENT);
  close(d);
}

TEST(Fattach, ENOTDIR_PathThroughAFile) {
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  EXPECT_EQ(fattach(d, (f.path + "/x").c_str()), -1);
  EXPECT_EQ(errno, ENOTDIR);
  close(d);
}

TEST(Fattach, EBUSY_AlreadyAttached) {
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  ASSERT_EQ(fattach(d, f.path.c_str()), 0);
  int e = door_create(doortest::echo_proc, nullptr, 0);
  EXPECT_EQ(fattach(e, f.path.c_str()), -1);
  EXPECT_EQ(errno, EBUSY);
  close(d);
  close(e);
}

TEST(Fattach, EPERM_NotTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempFile f;  // owned by root
  int rc = as_nobody([&] {
    int d = door_create(doortest::echo_proc, nullptr, 0);
    return fattach(d, f.path.c_str()) == -1 && errno == EPERM ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Fattach, EACCES_OwnerWithoutWritePermission) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempFile f;
  ASSERT_EQ(chown(f.path.c_str(), 65534, 65534), 0);
  ASSERT_EQ(chmod(f.path.c_str(), 0444), 0);
  int rc = as_nobody([&] {
    int d = door_create(doortest::echo_proc, nullptr, 0);
    return fattach(d, f.path.c_str()) == -1 && errno == EACCES ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Fattach, FilePermissionsDecideWhoGetsTheDoor) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  ASSERT_EQ(fattach(d, f.path.c_str()), 0);
  ASSERT_EQ(chmod(f.path.c_str(), 0600), 0);  // root only
  int rc = as_nobody([&] {
    int fd = open(f.path.c_str(), O_RDONLY);
    return fd == -1 && errno == EACCES ? 0 : 1;
  });
  EXPECT_EQ(rc, 0) << "an unprivileged user must not obtain the door";
  ASSERT_EQ(chmod(f.path.c_str(), 0644), 0);
  rc = as_nobody([&] {
    int fd = open(f.path.c_str(), O_RDONLY);
    return fd >= 0 && is_door(fd) && call_str(fd, "n") == "n" ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
  close(d);
}

TEST(Fdetach, EINVAL_NotAttached) {
  TempFile f;
  EXPECT_EQ(fdetach(f.path.c_str()), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(Fdetach, ENOENT_PathMissing) {
  EXPECT_EQ(fdetach("/var/tmp/no/such/door"), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(Fdetach, EPERM_NotTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempFile f;
  int d = door_create(doortest::echo_proc, nullptr, 0);
  ASSERT_EQ(fattach(d, f.path.c_str()), 0);
  int rc = as_nobody([&] { return fdetach(f.path.c_str()) == -1 && errno == EPERM ? 0 : 1; });
  EXPECT_EQ(rc, 0);
  close(d);
}

TEST(Fattach, ReopenAfterLastCloseManyTimes) {
  // Each close of the only descriptor tears the connection down; the next
  // open must get a fresh one (regression: a thread's slot cache once
  // outlived the torn-down connection).
  TempFile f;
  static std::string path;
  path = f.path;
  ServerProcess srv([] {
    int d = door_create(doortest::echo_proc, nullptr, 0);
    if (fattach(d, path.c_str()) != 0) _exit(3);
    return std::vector<int>{d};
  });
  for (int i = 0; i < 300; i++) {
    int d = open(f.path.c_str(), O_RDONLY);
    ASSERT_TRUE(is_door(d));
    ASSERT_EQ(call_str(d, std::to_string(i)), std::to_string(i));
    close(d);
  }
}
