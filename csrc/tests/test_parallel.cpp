#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.hpp"
#include "edgecv/parallel.hpp"

using namespace edgecv;

TEST_CASE("ThreadGroup joins its threads when an exception unwinds the scope") {
  std::atomic<int> finished{0};
  bool caught = false;
  try {
    ThreadGroup group;
    for (int i = 0; i < 3; ++i)
      group.spawn([&finished] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ++finished;
      });
    throw std::runtime_error("creating the next thread failed");  // what parallel_for would see
  } catch (const std::runtime_error&) {
    caught = true;
  }
  // Without the group a joinable std::thread would have been destroyed: std::terminate.
  CHECK(caught);
  CHECK(finished.load() == 3);
}

TEST_CASE("parallel_for covers every index once for any thread count") {
  for (unsigned threads : {0u, 1u, 2u, 3u, 7u, 64u}) {
    std::vector<std::atomic<int>> hits(101);
    parallel_for(hits.size(), threads, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
    for (auto& h : hits) CHECK(h.load() == 1);
  }
}
