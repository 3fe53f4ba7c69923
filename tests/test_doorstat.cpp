// SPDX-License-Identifier: MIT
//
// test_doorstat.cpp — doorstat(1) against a live server process: the doors
// it serves (ids, attributes, references), pool sizes, exact call counts
// and latency from libdoor's statistics region, the doors the calling
// process holds (with their server's pid), the all-processes summary, and
// -w refreshes with calls/s. Runs the real binary (DOORSTAT_PATH).
#include <door.h>
#include <gtest/gtest.h>
#include <stdio.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <atomic>

#include "door_test_util.h"

using doortest::call_str;
using doortest::ServerProcess;
using json = nlohmann::json;

namespace {

/// Runs doorstat with `args`; returns its stdout, or fails the test.
std::string run_doorstat(const std::string &args, int *status = nullptr) {
  std::string cmd = std::string(DOORSTAT_PATH) + " " + args;
  FILE *f = popen(cmd.c_str(), "r");
  EXPECT_NE(f, nullptr);
  if (!f) return {};
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  int st = pclose(f);
  if (status) *status = st;
  return out;
}

std::string hex(std::uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
  return b;
}

bool has(const json &arr, const std::string &s) {
  for (auto &x : arr)
    if (x == s) return true;
  return false;
}

const json *find_door(const json &doors, const std::string &id) {
  for (auto &d : doors)
    if (d["id"] == id) return &d;
  return nullptr;
}

struct Fixture {
  ServerProcess srv{[] {
                      return std::vector<int>{door_create(doortest::echo_proc, nullptr, 0),
                                              door_create(doortest::echo_proc, nullptr,
                                                          DOOR_PRIVATE | DOOR_REFUSE_DESC)};
                    },
                    2};
  door_info_t pub{}, priv{};
  Fixture() {
    door_info(srv.door(0), &pub);
    door_info(srv.door(1), &priv);
    for (int k = 0; k < 100; k++) call_str(srv.door(0), "p" + std::to_string(k));
    for (int k = 0; k < 37; k++) call_str(srv.door(1), "q" + std::to_string(k));
  }
};

}  // namespace

TEST(Doorstat, ServedDoorsAttributesCountsAndLatency) {
  Fixture fx;
  int st = -1;
  std::string out = run_doorstat("-j " + std::to_string(fx.srv.pid()), &st);
  EXPECT_EQ(st, 0);
  json j = json::parse(out);
  ASSERT_EQ(j.size(), 1u);
  const json &p = j[0];
  EXPECT_EQ(p["pid"], fx.srv.pid());
  EXPECT_EQ(p["stats"]["available"], true) << out;
  EXPECT_GE(p["stats"]["public_pool"]["threads"].get<int>(), 1);
  ASSERT_EQ(p["served"].size(), 2u) << out;
  const json *pub = find_door(p["served"], hex(fx.pub.di_uniquifier));
  const json *priv = find_door(p["served"], hex(fx.priv.di_uniquifier));
  ASSERT_TRUE(pub && priv) << out;
  EXPECT_EQ((*pub)["attributes"].size(), 0u);
  EXPECT_TRUE(has((*priv)["attributes"], "DOOR_PRIVATE"));
  EXPECT_TRUE(has((*priv)["attributes"], "DOOR_REFUSE_DESC"));
  EXPECT_EQ((*pub)["state"], "live");
  EXPECT_EQ((*pub)["references"], 1);
  EXPECT_EQ((*pub)["proc"], hex(fx.pub.di_proc));
  EXPECT_EQ((*pub)["calls"], 100);
  EXPECT_EQ((*priv)["calls"], 37);
  EXPECT_EQ((*pub)["pool"], "public");
  EXPECT_GE((*priv)["pool"]["threads"].get<int>(), 1);
  double p50 = (*pub)["latency_us"]["p50"], p99 = (*pub)["latency_us"]["p99"];
  EXPECT_GT(p50, 0.0);
  EXPECT_LE(p50, p99);
  EXPECT_LT(p50, 100000.0);  // an echo is served in far less than 100 ms
}

TEST(Doorstat, HeldDoorsNameTheirServer) {
  Fixture fx;
  json j = json::parse(run_doorstat("-j " + std::to_string(getpid())));
  ASSERT_EQ(j.size(), 1u);
  const json &held = j[0]["held"];
  const json *a = nullptr, *b = nullptr;
  for (auto &h : held) {
    if (h["fd"] == fx.srv.door(0)) a = &h;
    if (h["fd"] == fx.srv.door(1)) b = &h;
  }
  ASSERT_TRUE(a && b) << j.dump(2);
  EXPECT_EQ((*a)["id"], hex(fx.pub.di_uniquifier));
  EXPECT_EQ((*a)["server_pid"], fx.srv.pid());
  EXPECT_EQ((*a)["local"], false);
  EXPECT_TRUE(has((*b)["attributes"], "DOOR_PRIVATE"));
  // This process serves nothing: no statistics region.
  EXPECT_EQ(j[0]["served"].size(), 0u);
  EXPECT_EQ(j[0]["stats"]["available"], false);
}

TEST(Doorstat, NoPidListsEveryProcessWithDoors) {
  Fixture fx;
  json all = json::parse(run_doorstat("-j"));
  bool server = false, self = false;
  for (auto &p : all) {
    if (p["pid"] == fx.srv.pid()) server = p["served"].size() == 2;
    if (p["pid"] == getpid()) self = p["held"].size() >= 2;
  }
  EXPECT_TRUE(server);
  EXPECT_TRUE(self);
  std::string text = run_doorstat("");
  EXPECT_NE(text.find(std::to_string(fx.srv.pid())), std::string::npos) << text;
}

TEST(Doorstat, WatchRefreshesWithCallRates) {
  Fixture fx;
  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) call_str(fx.srv.door(0), "w");
  });
  std::string out = run_doorstat("-j -w 0.3 -n 3 " + std::to_string(fx.srv.pid()));
  stop = true;
  load.join();
  std::vector<json> docs;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    if (nl > pos) docs.push_back(json::parse(out.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  ASSERT_EQ(docs.size(), 3u) << out;
  const json *first = find_door(docs[0][0]["served"], hex(fx.pub.di_uniquifier));
  const json *last = find_door(docs[2][0]["served"], hex(fx.pub.di_uniquifier));
  ASSERT_TRUE(first && last);
  EXPECT_FALSE(first->contains("calls_per_sec"));
  ASSERT_TRUE(last->contains("calls_per_sec"));
  EXPECT_GT((*last)["calls_per_sec"].get<double>(), 0.0);
  EXPECT_GT((*last)["calls"].get<long>(), (*first)["calls"].get<long>());
}

TEST(Doorstat, TextTableAndMissingProcess) {
  Fixture fx;
  std::string text = run_doorstat(std::to_string(fx.srv.pid()));
  EXPECT_NE(text.find("PRIVATE,REFUSE_DESC"), std::string::npos) << text;
  EXPECT_NE(text.find("public pool:"), std::string::npos) << text;
  int st = 0;
  run_doorstat("999999999 2>/dev/null", &st);
  EXPECT_NE(st, 0) << "a pid that does not exist is an error";
}
