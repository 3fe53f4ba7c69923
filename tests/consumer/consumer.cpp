// SPDX-License-Identifier: MIT
//
// consumer.cpp — a C++20 program built against an installed libdoor
// (<door/door.hpp>) by tests/consumer/run.sh: creates a door with a lambda,
// calls it, checks the reply and an error code. Exit 0 on success.
#include <door/door.hpp>

#include <cstdio>
#include <string>
#include <system_error>

int main() {
  int calls = 0;
  auto d = door::Door::create([&calls](door::Request &rq) {
    calls++;
    rq.reply("re:" + std::string(rq.text()));
  });
  if (!d) {
    std::fprintf(stderr, "create: %s\n", d.error().message().c_str());
    return 1;
  }
  auto r = d->call("hello");
  if (!r || r->text() != "re:hello" || calls != 1) {
    std::fprintf(stderr, "call: %s\n", r ? "bad reply" : r.error().message().c_str());
    return 1;
  }
  door::Door none;
  auto e = none.call("x");
  if (e || e.error() != std::errc::bad_file_descriptor) {
    std::fprintf(stderr, "expected EBADF from an empty Door\n");
    return 1;
  }
  std::printf("c++ consumer: libdoor %s: %.*s\n", door::version(), static_cast<int>(r->text().size()),
              r->text().data());
  return 0;
}
