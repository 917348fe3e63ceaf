#include <algorithm>
#include <functional>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/track.hpp"

using namespace edgecv;

TEST_CASE("assign is optimal and respects the cost limit") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t rows = 1 + rng() % 4, cols = 1 + rng() % 4;
    std::vector<double> cost(rows * cols);
    for (double& c : cost) c = u(rng);
    const double limit = 0.7;
    const std::vector<int> got = assign(cost, rows, cols, limit);
    auto total = [&](const std::vector<int>& m) {  // unmatched rows and columns cost limit / 2 each
      double t = 0;
      std::vector<char> col_used(cols, 0);
      for (std::size_t r = 0; r < rows; ++r) {
        if (m[r] < 0) {
          t += limit / 2;
        } else {
          t += cost[r * cols + static_cast<std::size_t>(m[r])];
          col_used[static_cast<std::size_t>(m[r])] = 1;
        }
      }
      for (char c : col_used) t += c ? 0 : limit / 2;
      return t;
    };
    for (std::size_t r = 0; r < rows; ++r)
      if (got[r] >= 0) CHECK(cost[r * cols + static_cast<std::size_t>(got[r])] <= limit);
    // Brute force over every partial matching.
    double best = 1e18;
    std::vector<int> m(rows, -1);
    std::function<void(std::size_t, std::vector<char>&)> rec = [&](std::size_t r, std::vector<char>& used) {
      if (r == rows) {
        best = std::min(best, total(m));
        return;
      }
      m[r] = -1;
      rec(r + 1, used);
      for (std::size_t c = 0; c < cols; ++c)
        if (!used[c] && cost[r * cols + c] <= limit) {
          used[c] = 1;
          m[r] = static_cast<int>(c);
          rec(r + 1, used);
          used[c] = 0;
          m[r] = -1;
        }
    };
    std::vector<char> used(cols, 0);
    rec(0, used);
    CHECK_NEAR(total(got), best, 1e-9);
  }
}

TEST_CASE("tracks keep their ids through motion, a short gap and a low-score frame") {
  ByteTracker tracker;
  std::int64_t a = -1, b = -1;
  for (int f = 0; f < 40; ++f) {
    std::vector<float> boxes = {10.f + 2 * f, 10, 60.f + 2 * f, 80, 200.f - 3 * f, 20, 250.f - 3 * f, 90};
    std::vector<float> scores = {0.9f, 0.8f};
    std::size_t n = 2;
    if (f >= 15 && f < 20) n = 1;               // the second object is missed for five frames
    if (f == 25) scores[0] = 0.3f;              // a low score: the second association keeps it
    const TrackIds ids = tracker.update(boxes.data(), scores.data(), n);
    if (f == 0) {
      a = ids[0];
      b = ids[1];
      CHECK(a >= 1 && b >= 1 && a != b);
    } else {
      CHECK(ids[0] == a);
      if (n == 2) CHECK(ids[1] == b);
    }
  }
  CHECK(tracker.live_tracks() == 2);
}

TEST_CASE("a new object is confirmed on its second frame; a lost one dies after the buffer") {
  TrackerParams p;
  p.track_buffer = 3;
  ByteTracker tracker(p);
  std::vector<float> one = {0, 0, 50, 50};
  std::vector<float> s = {0.9f};
  CHECK(tracker.update(one.data(), s.data(), 1)[0] == 1);  // frame 1: confirmed at once
  std::vector<float> two = {0, 0, 50, 50, 300, 300, 350, 350};
  std::vector<float> s2 = {0.9f, 0.9f};
  TrackIds ids = tracker.update(two.data(), s2.data(), 2);
  CHECK(ids[0] == 1 && ids[1] == -1);  // the newcomer waits one frame
  ids = tracker.update(two.data(), s2.data(), 2);
  CHECK(ids[0] == 1 && ids[1] == 2);
  for (int f = 0; f < 6; ++f) (void)tracker.update(one.data(), s.data(), 1);
  CHECK(tracker.live_tracks() == 1);
}

TEST_CASE("tracker inputs are checked") {
  ByteTracker tracker;
  std::vector<float> bad = {10, 10, 5, 20};
  std::vector<float> s = {0.9f};
  CHECK_THROWS(tracker.update(bad.data(), s.data(), 1), InvalidInput);
  TrackerParams p;
  p.low_threshold = 0.9f;
  p.high_threshold = 0.5f;
  CHECK_THROWS(ByteTracker{p}, InvalidInput);
}
