// SPDX-License-Identifier: MIT
//
// reactor.cpp — the epoll thread behind door liveness and connection set-up.
#include "reactor.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "client.h"
#include "fork_graveyard.h"
#include "server.h"
#include "unique_fd.h"

namespace door::detail {

namespace {

enum class Kind { Wakeup, Door, ServerConnection, ClientConnection, Callback };

struct Watch {
  Kind kind;
  int fd;
  std::shared_ptr<ServerDoor> door;
  std::shared_ptr<ServerConn> conn;
  ClientConn *client = nullptr;
  std::function<bool()> callback;
  const void *key = nullptr;
  bool removed = false;
};

struct State {
  std::mutex mu;  ///< guards everything below
  bool started = false;
  int epfd = -1;
  int evfd = -1;
  pid_t owner_pid = 0;
  std::unordered_map<const void *, Watch *> watches;  ///< object -> watch
  std::vector<std::function<void()>> posted;
  std::vector<Watch *> graveyard;  ///< removed during a batch, freed after it
};

State &state() {
  static State *s = new State;  // never destroyed: the thread outlives main()
  return *s;
}

void remove_watch_locked(State &s, const void *key) {
  auto it = s.watches.find(key);
  if (it == s.watches.end()) return;
  // Only the reactor thread removes watches; the object is freed after the
  // current epoll batch, which may still hold events that point at it.
  epoll_ctl(s.epfd, EPOLL_CTL_DEL, it->second->fd, nullptr);
  it->second->removed = true;
  s.graveyard.push_back(it->second);
  s.watches.erase(it);
}

void handle(State &s, Watch *w, std::uint32_t events) {
  switch (w->kind) {
    case Kind::Wakeup: {
      std::uint64_t v;
      (void)!read(s.evfd, &v, sizeof v);
      std::vector<std::function<void()>> ready;
      {
        std::lock_guard g(s.mu);
        ready.swap(s.posted);
      }
      for (auto &f : ready) f();
      return;
    }
    case Kind::Door:
      // The original reference: its hang-up means every copy of the
      // descriptor door_create() returned is closed (or it was revoked).
      if (!accept_hello(w->door, w->fd) || (events & EPOLLERR)) {
        std::shared_ptr<ServerDoor> d = w->door;
        {
          std::lock_guard g(s.mu);
          remove_watch_locked(s, d.get());
        }
        door_reference_closed(d);
      }
      return;
    case Kind::ServerConnection: {
      bool keep = !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP));
      if (keep && (events & EPOLLIN)) keep = handle_conn_message(w->conn);
      if (!keep) {
        std::shared_ptr<ServerConn> c = w->conn;
        {
          std::lock_guard g(s.mu);
          remove_watch_locked(s, c.get());
        }
        c->kill();  // wakes bound threads; they drop their references
      }
      return;
    }
    case Kind::Callback:
      if (!w->callback()) {
        std::lock_guard g(s.mu);
        remove_watch_locked(s, w->key);
      }
      return;
    case Kind::ClientConnection: {
      ClientConn *c = w->client;
      {
        std::lock_guard g(s.mu);
        remove_watch_locked(s, c);
      }
      client_conn_lost(c);
      return;
    }
  }
}

void *reactor_main(void *) {
  State &s = state();
  epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(s.epfd, evs, 64, -1);
    if (n < 0) continue;  // EINTR: signals are blocked here, but be safe
    for (int i = 0; i < n; i++) {
      Watch *w = static_cast<Watch *>(evs[i].data.ptr);
      if (!w->removed) handle(s, w, evs[i].events);
    }
    std::vector<Watch *> dead;
    {
      std::lock_guard g(s.mu);
      dead.swap(s.graveyard);
    }
    for (Watch *w : dead) delete w;
  }
  return nullptr;
}

bool add_watch(Watch *w, const void *key, std::uint32_t events) {
  reactor_start();
  State &s = state();
  std::lock_guard g(s.mu);
  if (s.epfd < 0) {
    delete w;
    return false;
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
    delete w;
    return false;
  }
  s.watches[key] = w;
  return true;
}

}  // namespace

void reactor_start() noexcept {
  State &s = state();
  std::lock_guard g(s.mu);
  if (s.started && s.owner_pid == getpid()) return;
  s.epfd = epoll_create1(EPOLL_CLOEXEC);
  s.evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.epfd < 0 || s.evfd < 0) return;
  auto *w = new Watch{Kind::Wakeup, s.evfd, nullptr, nullptr, nullptr, {}, nullptr};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = w;
  epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.evfd, &ev);
  s.watches[&s] = w;
  // The reactor must never take signals meant for the application.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  int rc = pthread_create(&th, &attr, reactor_main, nullptr);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return;
  pthread_setname_np(th, "door-reactor");
  s.started = true;
  s.owner_pid = getpid();
}

bool reactor_watch_door(const std::shared_ptr<ServerDoor> &door) noexcept {
  auto *w = new Watch{Kind::Door, door->server_end.get(), door, nullptr, nullptr, {}, nullptr};
  return add_watch(w, door.get(), EPOLLIN);
}

bool reactor_watch_server_conn(const std::shared_ptr<ServerConn> &conn) noexcept {
  auto *w = new Watch{Kind::ServerConnection, conn->sock.get(), nullptr, conn, nullptr, {}, nullptr};
  return add_watch(w, conn.get(), EPOLLIN | EPOLLRDHUP);
}

bool reactor_watch_client_conn(ClientConn *conn) noexcept {
  // No EPOLLIN: the client reads its control replies itself, synchronously.
  // Hang-up and error are always reported.
  auto *w = new Watch{Kind::ClientConnection, client_conn_fd(conn), nullptr, nullptr, conn, {}, nullptr};
  return add_watch(w, conn, EPOLLRDHUP);
}

bool reactor_watch_fd(int fd, const void *key, std::function<bool()> on_ready) noexcept {
  auto *w = new Watch{Kind::Callback, fd, nullptr, nullptr, nullptr, std::move(on_ready), key};
  return add_watch(w, key, EPOLLIN);
}

void reactor_unwatch(const void *key, std::function<void()> after) noexcept {
  reactor_post([key, after = std::move(after)] {
    State &s = state();
    {
      std::lock_guard g(s.mu);
      remove_watch_locked(s, key);
    }
    if (after) after();
  });
}

void reactor_post(std::function<void()> fn) noexcept {
  reactor_start();
  State &s = state();
  {
    std::lock_guard g(s.mu);
    s.posted.push_back(std::move(fn));
  }
  std::uint64_t one = 1;
  (void)!write(s.evfd, &one, sizeof one);
}

void reactor_unwatch_door(ServerDoor *door) noexcept {
  reactor_post([door] {
    State &s = state();
    std::lock_guard g(s.mu);
    remove_watch_locked(s, door);
  });
}

void reactor_unwatch_client_conn(ClientConn *conn, std::function<void()> after) noexcept {
  reactor_post([conn, after = std::move(after)] {
    State &s = state();
    {
      std::lock_guard g(s.mu);
      remove_watch_locked(s, conn);
    }
    after();
  });
}

namespace {
/// The parent's watches, as parked by a fork child (fork_graveyard.h).
struct ReactorGrave {
  std::unordered_map<const void *, Watch *> watches;
  std::vector<std::function<void()>> posted;
  std::vector<Watch *> graveyard;
};
ForkGraveyard<ReactorGrave> g_reactor_grave;
}  // namespace

void reactor_prepare_fork() noexcept { g_reactor_grave.prepare(); }
void reactor_parent_after_fork() noexcept { g_reactor_grave.parent(); }

void reactor_forget_after_fork() noexcept {
  // Single-threaded fork child, no allocation. The objects the watches
  // point to are the parent's; their descriptors are closed by the
  // server/client forget functions, the objects parked in the graveyard.
  State &s = state();
  // The watch map is consistent here (prepare holds its lock), unlike the
  // per-door connection lists other threads may have been editing: close
  // the descriptors of every server connection and callback watch from it.
  // Doors' server ends and client connections are closed by their owners.
  for (auto &kv : s.watches) {
    Watch *w = kv.second;
    if (w->kind == Kind::ServerConnection) {
      raw_close(w->conn->sock.release());
      raw_close(w->conn->pidfd.release());
      for (auto &sl : w->conn->slots) {
        int ch = sl.chan.exchange(-1);
        if (ch >= 0) raw_close(ch);
      }
      w->conn->region = nullptr;  // MADV_DONTFORK: not mapped in the child
    } else if (w->kind == Kind::Callback) {
      raw_close(w->fd);  // attach listener and its requests, minted references
    }
  }
  if (s.epfd >= 0) raw_close(s.epfd);
  if (s.evfd >= 0) raw_close(s.evfd);
  s.epfd = s.evfd = -1;
  s.started = false;
  if (ReactorGrave *grave = g_reactor_grave.child()) {
    s.watches.swap(grave->watches);
    s.posted.swap(grave->posted);
    s.graveyard.swap(grave->graveyard);
  }
}

std::mutex &reactor_mutex() noexcept { return state().mu; }

}  // namespace door::detail
