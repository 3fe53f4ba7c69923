// SPDX-License-Identifier: MIT
//
// reactor.h — libdoor's one internal thread per process.
//
// It owns an epoll set over (a) the server end of every door this process
// created (new connections), (b) every connection clients opened to those
// doors (slot requests; hang-up = the client died), and (c) every connection
// this process opened as a client (hang-up = the server died). It never runs
// application code, so it cannot be blocked by it; that is what makes
// liveness prompt: a dead peer is seen the moment the kernel closes its
// sockets, with no polling period.
#pragma once

#include <functional>
#include <mutex>
#include <memory>

namespace door::detail {

struct ServerDoor;
struct ServerConn;
struct ClientConn;

/// Starts the reactor if needed (idempotent, fork-aware).
void reactor_start() noexcept;

/// Watches a door's server end for Hello records.
bool reactor_watch_door(const std::shared_ptr<ServerDoor> &door) noexcept;
/// Watches a server-side connection (requests, hang-up).
bool reactor_watch_server_conn(const std::shared_ptr<ServerConn> &conn) noexcept;
/// Watches a client-side connection for hang-up (server death).
bool reactor_watch_client_conn(ClientConn *conn) noexcept;

/// Watches `fd` for readability; `on_ready` runs on the reactor thread and
/// returns false to stop watching. `key` identifies the watch.
bool reactor_watch_fd(int fd, const void *key, std::function<bool()> on_ready) noexcept;
/// Stops a reactor_watch_fd() watch, then runs `after` on the reactor.
void reactor_unwatch(const void *key, std::function<void()> after) noexcept;

/// Runs `fn` on the reactor thread (after removing nothing). Used to retire
/// watched objects safely: the reactor is the only thread that frees them.
void reactor_post(std::function<void()> fn) noexcept;

/// Stops watching `door` (runs on the reactor thread, asynchronously).
void reactor_unwatch_door(ServerDoor *door) noexcept;
/// Stops watching a client connection, then runs `after` on the reactor.
void reactor_unwatch_client_conn(ClientConn *conn, std::function<void()> after) noexcept;

/// The reactor's lock (taken around fork()).
std::mutex &reactor_mutex() noexcept;

/// Fork prepare/parent hooks (allocate/free the child's graveyard).
void reactor_prepare_fork() noexcept;
void reactor_parent_after_fork() noexcept;

/// Fork child: forget the parent's reactor (its thread does not exist here).
void reactor_forget_after_fork() noexcept;

}  // namespace door::detail
