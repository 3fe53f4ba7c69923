// SPDX-License-Identifier: MIT
//
// cell.cpp — running one cell in its own process (see cell.h).
#include "cell.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pacer.h"
#include "proc.h"
#include "stats.h"

namespace bench {
namespace {

using json = nlohmann::ordered_json;

/// Stamps round trip `tag` into the payload (first and last 8 bytes).
void stamp(std::vector<char> &req, std::uint64_t tag) {
  std::memcpy(req.data(), &tag, sizeof tag);
  std::memcpy(req.data() + req.size() - sizeof tag, &tag, sizeof tag);
}

void check_echo(const std::vector<char> &rep, std::uint64_t tag, const char *mech) {
  std::uint64_t a, b;
  std::memcpy(&a, rep.data(), sizeof a);
  std::memcpy(&b, rep.data() + rep.size() - sizeof b, sizeof b);
  if (a != tag || b != tag)
    throw std::runtime_error(std::string(mech) + ": reply does not echo the request (round trip " +
                             std::to_string(tag) + ")");
}

/// One checked round trip on channel ch.
void echo(Mechanism &m, unsigned ch, std::vector<char> &req, std::vector<char> &rep, std::uint64_t tag) {
  stamp(req, tag);
  m.roundtrip(ch, req.data(), rep.data(), req.size());
  check_echo(rep, tag, m.name());
}

void sleep_us(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double us(double ns) { return ns / 1000.0; }

/// Slow-run figures (stats.h) of the round trips (ns, in the order they
/// ran) into j; `p50_ns` is the cell's median.
void put_slow_runs(json &j, const std::vector<std::uint64_t> &in_order, double p50_ns) {
  const SlowRuns r = slow_runs(in_order, slow_threshold_ns(p50_ns));
  j["slow_time_share"] = r.time_share;
  j["longest_slow_run"] = r.longest;
}

/// Latency figures of the sorted samples (ns) into j.
void put_latency(json &j, std::vector<std::uint64_t> &lat) {
  std::sort(lat.begin(), lat.end());
  double sum = 0;
  for (auto v : lat) sum += double(v);
  j["p50_us"] = us(percentile(lat, 0.50));
  j["p99_us"] = us(percentile(lat, 0.99));
  j["p999_us"] = us(percentile(lat, 0.999));
  j["mean_us"] = lat.empty() ? NAN : us(sum / double(lat.size()));
}

/// Runs body() in a child in its own process group and returns its JSON.
json isolated(const std::function<json()> &body, unsigned timeout_s) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) fail("pipe2");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    close(p[0]);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    json r;
    try {
      r = body();
    } catch (const std::exception &e) {
      r = {{"error", e.what()}};
    }
    const std::string s = r.dump();
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t w = write(p[1], s.data() + off, s.size() - off);
      if (w <= 0) break;
      off += std::size_t(w);
    }
    _exit(0);
  }
  setpgid(pid, pid);  // also here: no window where a timeout kill misses it
  close(p[1]);
  std::string out;
  const std::uint64_t deadline = now_ns() + std::uint64_t(timeout_s) * 1000000000u;
  bool timed_out = false;
  for (;;) {
    const std::uint64_t now = now_ns();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    pollfd pfd{p[0], POLLIN, 0};
    const int r = poll(&pfd, 1, int((deadline - now) / 1000000u) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, std::size_t(n));
  }
  close(p[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  // Whatever the cell left behind (a server whose stop() did not run) goes too.
  kill(-pid, SIGKILL);
  if (timed_out) throw std::runtime_error("cell timed out after " + std::to_string(timeout_s) + " s");
  if (out.empty())
    throw std::runtime_error("cell process died (" +
                             (WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st))
                                              : "status " + std::to_string(WEXITSTATUS(st))) + ")");
  json r = json::parse(out);
  if (r.contains("error")) throw std::runtime_error(r["error"].get<std::string>());
  return r;
}

// Shared control block of a concurrency cell: one line per caller.
struct alignas(64) Caller {
  std::atomic<std::uint64_t> calls{0};
  std::int64_t cpu_ns = 0;
  std::uint32_t nlat = 0;
  std::atomic<int> done{0};
  char error[256] = {};
};
struct Control {
  std::atomic<unsigned> ready{0};
  std::atomic<int> go{0}, stop{0};
};
constexpr std::size_t kLatCap = 8192;  // latency samples kept per caller
constexpr unsigned kPacedWarmup = 20;  // paced untimed round trips of a paced cell

}  // namespace

json run_latency(Mechanism &m, const LatencyCell &c, unsigned timeout_s) {
  return isolated(
      [&]() -> json {
        pin_self(c.client_cpu);
        const std::size_t n = std::max<std::size_t>(c.payload, 8);
        std::vector<char> req(n, 'q'), rep(n, 0);
        std::vector<std::uint64_t> lat;
        lat.reserve(c.iters);
        m.start({c.server_cpu, n, 1});
        m.attach(0);
        std::uint64_t tag = 1;
        for (unsigned i = 0; i < c.warmup; ++i) echo(m, 0, req, rep, tag++);
        std::optional<Pacer> pacer;
        if (c.pace_us) {
          // Wake at the deadline, not up to 50 us (the default timer slack) after it.
          prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
          // A few paced calls first: adaptive spinning (door_call, futex_spin)
          // settles to this call rate before the timed part.
          pacer.emplace(std::uint64_t(c.pace_us) * 1000u);
          for (unsigned i = 0; i < kPacedWarmup; ++i) {
            pacer->wait();
            echo(m, 0, req, rep, tag++);
          }
        }
        const std::uint64_t missed0 = pacer ? pacer->missed() : 0;
        const std::int64_t cc0 = process_cpu_ns(), sc0 = m.server_cpu_ns();
        const std::uint64_t start = now_ns(), cap = std::uint64_t(c.cell_ms) * 1000000u;
        std::uint64_t t1 = start;
        for (unsigned i = 0; i < c.iters; ++i) {
          if (pacer) pacer->wait();
          stamp(req, tag);
          const std::uint64_t t0 = now_ns();
          m.roundtrip(0, req.data(), rep.data(), n);
          t1 = now_ns();
          check_echo(rep, tag++, m.name());
          lat.push_back(t1 - t0);
          if (t1 - start > cap && lat.size() >= c.min_iters) break;
        }
        const std::int64_t cc1 = process_cpu_ns(), sc1 = m.server_cpu_ns();
        m.stop();
        json j;
        const double calls = double(lat.size());
        const std::vector<std::uint64_t> in_order = lat;  // put_latency sorts lat
        put_latency(j, lat);
        put_slow_runs(j, in_order, percentile(lat, 0.50));
        j["iters"] = lat.size();
        j["calls_per_s"] = calls / (double(t1 - start) / 1e9);
        j["client_cpu_us_per_call"] = us(double(cc1 - cc0) / calls);
        j["server_cpu_us_per_call"] = sc0 < 0 || sc1 < 0 ? NAN : us(double(sc1 - sc0) / calls);
        j["cpu_us_per_call"] = j["client_cpu_us_per_call"].get<double>() + j["server_cpu_us_per_call"].get<double>();
        if (pacer) {
          // CPU us per second of wall clock: 1e6 means one CPU kept busy.
          const double wall_s = double(t1 - start) / 1e9;
          j["pace_us"] = c.pace_us;
          j["client_cpu_us_per_s"] = us(double(cc1 - cc0)) / wall_s;
          j["server_cpu_us_per_s"] = sc0 < 0 || sc1 < 0 ? NAN : us(double(sc1 - sc0)) / wall_s;
          j["cpu_us_per_s"] = j["client_cpu_us_per_s"].get<double>() + j["server_cpu_us_per_s"].get<double>();
          j["missed_slots"] = pacer->missed() - missed0;
        }
        return j;
      },
      timeout_s);
}

json run_concurrency(Mechanism &m, const ConcurrencyCell &c, unsigned timeout_s) {
  return isolated(
      [&]() -> json {
        pin_self(-1);
        const std::size_t n = std::max<std::size_t>(c.payload, 8);
        const std::size_t lat_off = (sizeof(Control) + 63) & ~std::size_t(63);
        const std::size_t caller_off = lat_off + c.callers * kLatCap * sizeof(std::uint64_t);
        const std::size_t size = caller_off + c.callers * sizeof(Caller);
        void *mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) fail("mmap");
        char *base = static_cast<char *>(mem);
        Control &ctl = *new (base) Control;
        auto *lats = reinterpret_cast<std::uint64_t *>(base + lat_off);
        auto *callers = reinterpret_cast<Caller *>(base + caller_off);
        for (unsigned i = 0; i < c.callers; ++i) new (&callers[i]) Caller;

        m.start({-1, n, c.callers});
        std::vector<pid_t> pids;
        const pid_t cell = getpid();
        for (unsigned i = 0; i < c.callers; ++i) {
          const pid_t pid = fork();
          if (pid < 0) fail("fork");
          if (pid > 0) {
            pids.push_back(pid);
            continue;
          }
          // Caller i: attach, warm up, then count calls between go and stop.
          prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (getppid() != cell) _exit(1);
          Caller &me = callers[i];
          std::uint64_t *mylat = lats + std::size_t(i) * kLatCap;
          try {
            std::vector<char> req(n, 'q'), rep(n, 0);
            m.attach(i);
            std::uint64_t tag = 1;
            for (unsigned k = 0; k < c.warmup; ++k) echo(m, i, req, rep, tag++);
            ctl.ready.fetch_add(1);
            while (!ctl.go.load(std::memory_order_acquire)) sleep_us(100);
            const std::int64_t cpu0 = process_cpu_ns();
            std::uint64_t calls = 0;
            while (!ctl.stop.load(std::memory_order_relaxed)) {
              stamp(req, tag);
              const std::uint64_t t0 = now_ns();
              m.roundtrip(i, req.data(), rep.data(), n);
              const std::uint64_t t1 = now_ns();
              check_echo(rep, tag++, m.name());
              if (calls < kLatCap) mylat[calls] = t1 - t0;
              ++calls;
            }
            me.cpu_ns = process_cpu_ns() - cpu0;
            me.nlat = std::uint32_t(std::min<std::uint64_t>(calls, kLatCap));
            me.calls.store(calls);
          } catch (const std::exception &e) {
            std::strncpy(me.error, e.what(), sizeof me.error - 1);
            ctl.ready.fetch_add(1);  // do not leave the cell waiting for us
          }
          me.done.store(1, std::memory_order_release);
          _exit(0);
        }
        const std::uint64_t ready_deadline = now_ns() + 30000000000ull;
        while (ctl.ready.load() < c.callers && now_ns() < ready_deadline) sleep_us(200);
        const std::int64_t sc0 = m.server_cpu_ns();
        const std::uint64_t t0 = now_ns();
        ctl.go.store(1, std::memory_order_release);
        sleep_us(long(c.window_ms) * 1000);
        ctl.stop.store(1);
        const std::uint64_t t1 = now_ns();
        const std::int64_t sc1 = m.server_cpu_ns();
        for (pid_t pid : pids)
          while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
          }
        m.stop();
        std::uint64_t calls = 0;
        std::int64_t client_cpu = 0;
        std::vector<std::uint64_t> lat;
        for (unsigned i = 0; i < c.callers; ++i) {
          if (callers[i].error[0]) throw std::runtime_error(std::string("caller: ") + callers[i].error);
          if (!callers[i].done.load()) throw std::runtime_error("a caller died");
          calls += callers[i].calls.load();
          client_cpu += callers[i].cpu_ns;
          lat.insert(lat.end(), lats + std::size_t(i) * kLatCap, lats + std::size_t(i) * kLatCap + callers[i].nlat);
        }
        munmap(mem, size);
        if (calls == 0) throw std::runtime_error("no call completed in the window");
        json j;
        put_latency(j, lat);
        j["iters"] = calls;
        j["calls_per_s"] = double(calls) / (double(t1 - t0) / 1e9);
        j["client_cpu_us_per_call"] = us(double(client_cpu) / double(calls));
        j["server_cpu_us_per_call"] = sc0 < 0 || sc1 < 0 ? NAN : us(double(sc1 - sc0) / double(calls));
        j["cpu_us_per_call"] = j["client_cpu_us_per_call"].get<double>() + j["server_cpu_us_per_call"].get<double>();
        return j;
      },
      timeout_s);
}

}  // namespace bench
