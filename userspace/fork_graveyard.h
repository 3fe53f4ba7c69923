// SPDX-License-Identifier: MIT
//
// fork_graveyard.h — somewhere for a fork child to put the parent's state.
//
// A fork child must not allocate (an allocator that is not fork-safe may
// be locked by a thread that does not exist in the child), yet it has to
// drop the parent's doors, connections and watches without touching them.
// The prepare handler allocates a T in the parent; the child swaps the
// parent's containers into it (swap allocates nothing), and the objects
// stay reachable from here for good. In the parent the unused T is freed.
// A child that forks again stacks a new T on top of its inherited one.
#pragma once

#include <new>

namespace door::detail {

template <class T>
class ForkGraveyard {
 public:
  /// pthread_atfork prepare: allocate the child's T (parent side).
  void prepare() noexcept {
    Node *n = new (std::nothrow) Node;
    pushed_ = n != nullptr;
    if (n) {
      n->prev = top_;
      top_ = n;
    }
  }
  /// pthread_atfork parent: free the T the child did not need.
  void parent() noexcept {
    if (!pushed_) return;
    Node *n = top_;
    top_ = n->prev;
    delete n;
    pushed_ = false;
  }
  /// pthread_atfork child: the T to move the parent's state into (null if
  /// the prepare allocation failed: then the child leaves it in place).
  T *child() noexcept { return pushed_ ? &top_->value : nullptr; }

 private:
  struct Node {
    Node *prev = nullptr;
    T value;
  };
  Node *top_ = nullptr;
  bool pushed_ = false;
};

}  // namespace door::detail
