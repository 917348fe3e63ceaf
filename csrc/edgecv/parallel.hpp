// Portable parallel loop over [0, n) in contiguous chunks with std::thread (no OpenMP needed).
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace edgecv {

// Number of worker threads for `threads` (0 = hardware concurrency), never more than `work_items`.
inline unsigned worker_count(unsigned threads, std::size_t work_items) {
  unsigned n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(n, work_items)));
}

// Calls fn(begin, end) on disjoint chunks covering [0, n); fn must not throw.
template <class Fn>
void parallel_for(std::size_t n, unsigned threads, Fn fn) {
  const unsigned workers = worker_count(threads, n);
  if (workers <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  const std::size_t chunk = (n + workers - 1) / workers;
  for (unsigned w = 1; w < workers; ++w) {
    const std::size_t begin = std::min(n, w * chunk), end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back([=] { fn(begin, end); });
  }
  fn(std::size_t{0}, std::min(n, chunk));
  for (std::thread& t : pool) t.join();
}

}  // namespace edgecv
