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

// Joins every thread it holds when it goes out of scope, also while an exception unwinds (a
// std::thread destroyed while joinable would call std::terminate).
class ThreadGroup {
 public:
  ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { join(); }

  template <class Fn>
  void spawn(Fn&& fn) { threads_.emplace_back(std::forward<Fn>(fn)); }

  void join() {
    for (std::thread& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  std::vector<std::thread> threads_;
};

// Calls fn(begin, end) on disjoint chunks covering [0, n); fn must not throw. If starting a thread
// fails (std::system_error), the threads already started are joined before the error propagates.
template <class Fn>
void parallel_for(std::size_t n, unsigned threads, Fn fn) {
  const unsigned workers = worker_count(threads, n);
  if (workers <= 1) {
    fn(std::size_t{0}, n);
    return;
  }
  const std::size_t chunk = (n + workers - 1) / workers;
  ThreadGroup pool;
  for (unsigned w = 1; w < workers; ++w) {
    const std::size_t begin = std::min(n, w * chunk), end = std::min(n, begin + chunk);
    if (begin < end) pool.spawn([=] { fn(begin, end); });
  }
  fn(std::size_t{0}, std::min(n, chunk));
  pool.join();
}

}  // namespace edgecv
