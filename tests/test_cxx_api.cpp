// SPDX-License-Identifier: MIT
//
// test_cxx_api.cpp — the C++ API (<door/door.hpp>) across processes: a
// lambda handler, byte replies, overflow replies (mapped, unmapped with
// the Reply), descriptors both ways owned by door::Fd, errors as
// std::error_code, credentials, handler lifetime, exceptions.
#include <door/door.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "door_test_util.h"

using doortest::ServerProcess;

namespace {

/// Adopts a duplicate of the server's door descriptor `fd`.
door::Door adopt(int fd) { return door::Door(door::Fd(fcntl(fd, F_DUPFD_CLOEXEC, 0))); }

/// Bytes of a string.
std::span<const std::byte> bytes(const std::string &s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string pattern(std::size_t n, unsigned seed) {
  std::string v(n, '\0');
  for (std::size_t i = 0; i < n; i++) v[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return v;
}

/// Creates a door in the (server) process and gives its descriptor away:
/// the handler lives as long as the process.
template <class F>
int serve(F &&handler, door_attr_t attrs = 0) {
  auto d = door::Door::create(std::forward<F>(handler), attrs);
  return d ? d->release().release() : -1;
}

/// True when [p, p+n) is mapped in this process.
bool mapped(const void *p, std::size_t n) {
  std::size_t pg = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  auto a = reinterpret_cast<std::uintptr_t>(p) / pg * pg;
  std::vector<unsigned char> vec((n + pg - 1) / pg + 1);
  return mincore(reinterpret_cast<void *>(a), n, vec.data()) == 0;
}

/// Reads what is available on `fd` within 5 s ("" on timeout or EOF).
std::string read_some(int fd) {
  struct pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) return "";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

}  // namespace

TEST(CxxCreate, LambdaHandlerCapturesStateAndEchoes) {
  ServerProcess srv([] {
    std::string prefix = "seen:";
    return std::vector<int>{serve([prefix](door::Request &rq) {
      std::string r = prefix + std::string(rq.text());
      rq.reply(std::string_view(r));
    })};
  });
  door::Door d = adopt(srv.door());
  ASSERT_TRUE(d);
  auto r = d.call(bytes("hello"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->text(), "seen:hello");
  EXPECT_TRUE(r->descriptors().empty());
  EXPECT_FALSE(r->mapped());
}

TEST(CxxCreate, HandlerReturningReply) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) -> door::Reply {
      std::string s(rq.text());
      return door::Reply(std::string_view(std::string(s.rbegin(), s.rend())));
    })};
  });
  door::Door d = adopt(srv.door());
  auto r = d.call(bytes("abc"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->text(), "cba");
}

TEST(CxxCreate, EmptyArgumentsAndEmptyReply) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      if (!rq.data().empty()) rq.reply(std::string_view("non-empty"));
    })};
  });
  door::Door d = adopt(srv.door());
  auto r = d.call(std::span<const std::byte>());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->data().empty());
  auto r2 = d.call(bytes("x"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->text(), "non-empty");
}

TEST(CxxCreate, InfoDescribesTheServer) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &) {}, DOOR_REFUSE_DESC)};
  });
  door::Door d = adopt(srv.door());
  auto i = d.info();
  ASSERT_TRUE(i) << i.error().message();
  EXPECT_EQ(i->di_target, srv.pid());
  EXPECT_TRUE(i->di_attributes & DOOR_REFUSE_DESC);
  EXPECT_FALSE(i->di_attributes & DOOR_LOCAL) << "not created by this process";
  EXPECT_NE(i->di_uniquifier, 0u);
}

TEST(CxxOverflow, ReplyLargerThanSlotIsMappedAndUnmappedWithReply) {
  constexpr std::size_t kBig = 300 * 1024;  // > 128 KiB: travels in a memfd
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      rq.reply(std::string_view(pattern(kBig, static_cast<unsigned>(rq.data().size()))));
    })};
  });
  door::Door d = adopt(srv.door());
  const void *where = nullptr;
  {
    auto r = d.call(bytes("xyz"));
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->data().size(), kBig);
    EXPECT_TRUE(r->mapped());
    EXPECT_EQ(r->text(), pattern(kBig, 3));
    where = r->data().data();
    EXPECT_TRUE(mapped(where, kBig));
  }
  EXPECT_FALSE(mapped(where, kBig)) << "the Reply must munmap its overflow mapping";
}

TEST(CxxOverflow, ReplyLargerThanOfferedBufferIsMappedAndUnmapped) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &) { return door::Reply(std::string_view(pattern(1000, 9))); })};
  });
  door::Door d = adopt(srv.door());
  const void *where = nullptr;
  {
    auto r = d.call(bytes("q"), {}, /*rbuf_size=*/64);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->mapped());
    EXPECT_EQ(r->text(), pattern(1000, 9));
    where = r->data().data();
    EXPECT_TRUE(mapped(where, 1000));
  }
  EXPECT_FALSE(mapped(where, 1000)) << "the Reply must munmap its overflow mapping";
  // The same reply within the default buffer is a private copy.
  auto r = d.call(bytes("q"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->mapped());
  EXPECT_EQ(r->text(), pattern(1000, 9));
}

TEST(CxxOverflow, LargeBufferOfferedIsUsedInPlace) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) { rq.reply(rq.data()); })};
  });
  door::Door d = adopt(srv.door());
  std::string big = pattern(200 * 1024, 5);
  auto r = d.call(bytes(big), {}, /*rbuf_size=*/512 * 1024);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->mapped());
  EXPECT_EQ(r->text(), big);
}

TEST(CxxDescriptors, ClientToServerTakenByHandler) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      if (rq.descriptor_count() != 1) return rq.reply(std::string_view("count"));
      door::Fd w = rq.take_descriptor(0);
      if (!w || rq.take_descriptor(0)) return rq.reply(std::string_view("take"));
      if (write(w.get(), "via-fd", 6) != 6) return rq.reply(std::string_view("write"));
      rq.reply(std::string_view("ok"));
    })};
  });
  door::Door d = adopt(srv.door());
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  door::Fd rd(p[0]), wr(p[1]);
  door_desc_t desc = door::pass(wr.get());
  auto r = d.call(bytes("go"), std::span(&desc, 1));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->text(), "ok");
  EXPECT_EQ(read_some(rd.get()), "via-fd");
  // The server closed its copy (door::Fd); once ours is gone: EOF.
  wr.reset();
  struct pollfd pf{rd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, 5000), 1);
  char c;
  EXPECT_EQ(read(rd.get(), &c, 1), 0);
}

TEST(CxxDescriptors, UntakenDescriptorsAreClosedByRequest) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      rq.reply(std::string_view(std::to_string(rq.descriptor_count())));
    })};
  });
  door::Door d = adopt(srv.door());
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  door::Fd rd(p[0]);
  door_desc_t desc = door::pass_and_close(door::Fd(p[1]));  // ours closes once sent
  auto r = d.call(bytes("x"), std::span(&desc, 1));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->text(), "1");
  struct pollfd pf{rd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, 5000), 1) << "write end still open somewhere";
  char c;
  EXPECT_EQ(read(rd.get(), &c, 1), 0) << "the server leaked the descriptor it did not take";
}

TEST(CxxDescriptors, ServerToClientOwnedByReply) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) return door::Reply();
      door::Fd rd(p[0]), wr(p[1]);
      if (write(wr.get(), "from-server", 11) != 11) return door::Reply();
      door::Reply rep(std::string_view("pipe"));
      rep.add_descriptor(std::move(rd));
      return rep;  // wr closes here: the reader sees EOF after the data
    })};
  });
  door::Door d = adopt(srv.door());
  int fdnum = -1;
  {
    auto r = d.call(bytes("?"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->text(), "pipe");
    ASSERT_EQ(r->descriptors().size(), 1u);
    door::Fd &rd = r->descriptors()[0];
    ASSERT_TRUE(rd);
    fdnum = rd.get();
    EXPECT_EQ(read_some(rd.get()), "from-server");
    char c;
    EXPECT_EQ(read(rd.get(), &c, 1), 0) << "the server kept its copy of the read end's peer";
  }
  EXPECT_EQ(fcntl(fdnum, F_GETFD), -1) << "the Reply must close descriptors it still owns";
}

TEST(CxxDescriptors, DoorReturnedThroughDoorIsCallable) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &) {
      door::Reply rep;
      rep.add_descriptor(door::Fd(serve([](door::Request &rq) { rq.reply(std::string_view("inner")); })));
      return rep;
    })};
  });
  door::Door d = adopt(srv.door());
  auto r = d.call(bytes("?"));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->descriptors().size(), 1u);
  door::Door inner(std::move(r->descriptors()[0]));
  EXPECT_FALSE(r->descriptors()[0]) << "moved out";
  auto ri = inner.call(bytes(""));
  ASSERT_TRUE(ri) << ri.error().message();
  EXPECT_EQ(ri->text(), "inner");
}

TEST(CxxErrors, EBADFAfterRevokeByServer) {
  ServerProcess srv(
      [] {
        // Door 0 is the target; calling door 1 revokes it.
        auto *target = new door::Door(*door::Door::create([](door::Request &rq) { rq.reply(rq.data()); }));
        int t = fcntl(target->get(), F_DUPFD_CLOEXEC, 0);
        int ctl = serve([target](door::Request &rq) {
          auto r = target->revoke();
          rq.reply(std::string_view(r ? "revoked" : r.error().message()));
        });
        return std::vector<int>{t, ctl};
      },
      2);
  door::Door d = adopt(srv.door(0)), ctl = adopt(srv.door(1));
  auto before = d.call(bytes("a"));
  ASSERT_TRUE(before) << before.error().message();
  auto rv = ctl.call(bytes(""));
  ASSERT_TRUE(rv) << rv.error().message();
  ASSERT_EQ(rv->text(), "revoked");
  auto after = d.call(bytes("a"));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error(), std::errc::bad_file_descriptor) << after.error().message();
  EXPECT_EQ(&after.error().category(), &std::generic_category());
  EXPECT_EQ(after.error().value(), EBADF);
  auto i = d.info();
  ASSERT_TRUE(i);
  EXPECT_TRUE(i->di_attributes & DOOR_REVOKED);
}

TEST(CxxErrors, ENOBUFSAboveDataMaxSetOnUnderlyingFd) {
  ServerProcess srv([] {
    int d = serve([](door::Request &rq) { rq.reply(rq.data()); });
    if (door_setparam(d, DOOR_PARAM_DATA_MAX, 16) != 0) return std::vector<int>{};
    return std::vector<int>{d};
  });
  door::Door d = adopt(srv.door());
  ASSERT_TRUE(d);
  auto ok = d.call(bytes(std::string(16, 'a')));
  ASSERT_TRUE(ok) << ok.error().message();
  auto r = d.call(bytes(std::string(17, 'a')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::no_buffer_space) << r.error().message();
  auto max = d.param(DOOR_PARAM_DATA_MAX);
  ASSERT_TRUE(max) << max.error().message();
  EXPECT_EQ(*max, 16u);
  // Only the creator may set parameters.
  auto sp = d.set_param(DOOR_PARAM_DATA_MAX, 1024);
  ASSERT_FALSE(sp);
  EXPECT_EQ(sp.error(), std::errc::operation_not_permitted);
}

TEST(CxxErrors, EBADFOnEmptyDoorAndNonDoor) {
  door::Door empty;
  auto r = empty.call(bytes("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
  auto i = empty.info();
  ASSERT_FALSE(i);
  EXPECT_EQ(i.error(), std::errc::bad_file_descriptor);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  close(p[1]);
  door::Door notadoor{door::Fd(p[0])};
  auto r2 = notadoor.call(bytes("x"));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), std::errc::bad_file_descriptor);
}

TEST(CxxErrors, HandlerExceptionFailsCallWithEINTR) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      if (rq.text() == "throw") throw std::runtime_error("boom");
      rq.reply(std::string_view("fine"));
    })};
  });
  door::Door d = adopt(srv.door());
  auto r = d.call(bytes("throw"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::interrupted) << r.error().message();
  auto r2 = d.call(bytes("again"));
  ASSERT_TRUE(r2) << "the server must survive a throwing handler: " << r2.error().message();
  EXPECT_EQ(r2->text(), "fine");
}

TEST(CxxLifetime, DestroyingCreatorRevokesAndDestroysHandler) {
  auto token = std::make_shared<int>(42);
  std::weak_ptr<int> seen = token;
  door::Fd dup;
  {
    auto d = door::Door::create([token](door::Request &rq) { rq.reply(std::string_view(std::to_string(*token))); });
    ASSERT_TRUE(d) << d.error().message();
    token.reset();
    dup = *d->fd().duplicate();
    door::Door client(*dup.duplicate());
    auto r = client.call(bytes(""));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->text(), "42");
    EXPECT_FALSE(seen.expired());
    auto i = client.info();
    ASSERT_TRUE(i);
    EXPECT_TRUE(i->di_attributes & DOOR_LOCAL);
  }  // the creating Door revokes and releases the handler; `client` just closes
  EXPECT_TRUE(seen.expired()) << "the handler must be destroyed with its door";
  door::Door after(std::move(dup));
  auto r = after.call(bytes(""));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
}

TEST(CxxLifetime, RevokeOnAdoptedDoorOnlyCloses) {
  auto d = door::Door::create([](door::Request &) {});
  ASSERT_TRUE(d);
  door::Door adopted(*d->fd().duplicate());
  int n = adopted.get();
  EXPECT_TRUE(adopted.revoke());
  EXPECT_FALSE(adopted);
  EXPECT_EQ(fcntl(n, F_GETFD), -1);
  auto r = d->call(bytes(""));
  EXPECT_TRUE(r) << "closing an adopted descriptor must not revoke the door";
}

TEST(CxxCredentials, HandlerSeesCallerProcess) {
  ServerProcess srv([] {
    return std::vector<int>{serve([](door::Request &rq) {
      auto c = rq.credentials();
      if (!c) return rq.reply(std::string_view("ERR " + c.error().message()));
      std::string s = std::to_string(c->pid) + " " + std::to_string(c->uid) + " " + std::to_string(c->euid) + " " +
                      std::to_string(c->suid) + " " + std::to_string(c->gid) + " " + std::to_string(c->egid) + " " +
                      std::to_string(c->sgid) + " " + std::to_string(c->groups.size());
      rq.reply(std::string_view(s));
    })};
  });
  door::Door d = adopt(srv.door());
  auto r = d.call(bytes(""));
  ASSERT_TRUE(r) << r.error().message();
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  ASSERT_EQ(getresuid(&ru, &eu, &su), 0);
  ASSERT_EQ(getresgid(&rg, &eg, &sg), 0);
  int ngroups = getgroups(0, nullptr);
  std::string want = std::to_string(getpid()) + " " + std::to_string(ru) + " " + std::to_string(eu) + " " +
                     std::to_string(su) + " " + std::to_string(rg) + " " + std::to_string(eg) + " " +
                     std::to_string(sg) + " " + std::to_string(ngroups);
  EXPECT_EQ(r->text(), want);
}

TEST(CxxCredentials, EINVALOutsideAnInvocation) {
  auto c = door::caller_credentials();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::invalid_argument);
}

TEST(CxxUnref, HandlerSeesUnreferencedInvocation) {
  // Shared with the server process: unref invocations seen, and bad ones.
  struct Counts {
    std::atomic<int> unrefs, bad;
  };
  auto *counts = static_cast<Counts *>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(counts, MAP_FAILED);
  new (counts) Counts{};
  ServerProcess srv([counts] {
    int target = serve(
        [counts](door::Request &rq) {
          if (!rq.unreferenced()) return rq.reply(std::string_view("called"));
          if (!rq.data().empty() || rq.descriptor_count() != 0 || rq.credentials()) counts->bad++;
          counts->unrefs++;
        },
        DOOR_UNREF);
    // Each reply hands out a new reference to the target (unref.cpp).
    return std::vector<int>{serve([target](door::Request &) {
      door::Reply rep;
      rep.add_descriptor(door::Fd(fcntl(target, F_DUPFD_CLOEXEC, 0)));
      return rep;
    })};
  });
  door::Door ctl = adopt(srv.door());
  {
    auto r = ctl.call(bytes("give"));
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->descriptors().size(), 1u);
    door::Door target(std::move(r->descriptors()[0]));
    auto c = target.call(bytes(""));
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->text(), "called");
    usleep(100 * 1000);
    EXPECT_EQ(counts->unrefs.load(), 0) << "a reference is still held";
  }  // the only handed-out reference closes
  for (int i = 0; i < 600 && counts->unrefs.load() == 0; i++) usleep(5000);
  EXPECT_EQ(counts->unrefs.load(), 1);
  EXPECT_EQ(counts->bad.load(), 0) << "an unref invocation has no data, descriptors or caller";
  munmap(counts, 4096);
}

TEST(CxxApi, ErrnoCodeIsGenericCategory) {
  std::error_code e = door::errno_code(ENOBUFS);
  EXPECT_EQ(e, std::errc::no_buffer_space);
  EXPECT_EQ(&e.category(), &std::generic_category());
  EXPECT_STREQ(door::version(), door_version_np());
}
