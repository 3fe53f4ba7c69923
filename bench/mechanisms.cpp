// SPDX-License-Identifier: MIT
//
// mechanisms.cpp — the list of mechanisms a door_bench binary measures, in
// report order. gRPC is compiled in only when the build found it
// (DOOR_BENCH_GRPC; the VM build leaves it out to keep the initramfs
// small), io_uring and binder when their headers were found.
#include "mechanism.h"

namespace bench {

std::vector<std::unique_ptr<Mechanism>> all_mechanisms(unsigned spin_us) {
  std::vector<std::unique_ptr<Mechanism>> v;
  v.push_back(make_door());
  v.push_back(make_futex());
  v.push_back(make_futex_spin(spin_us));
  v.push_back(make_eventfd());
  v.push_back(make_pipe());
  v.push_back(make_unix_stream());
  v.push_back(make_unix_seqpacket());
  v.push_back(make_mqueue());
#ifdef DOOR_BENCH_URING
  v.push_back(make_uring());
#endif
  v.push_back(make_tcp());
#ifdef DOOR_BENCH_GRPC
  v.push_back(make_grpc());
#endif
#ifdef DOOR_BENCH_BINDER
  v.push_back(make_binder());
#endif
  v.push_back(make_busypoll());
  v.push_back(make_shm_memcpy());
  v.push_back(make_door_in_place());
  return v;
}

}  // namespace bench
