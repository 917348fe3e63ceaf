#include "edgecv/track.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "edgecv/error.hpp"
#include "edgecv/nms.hpp"

namespace edgecv {

namespace {

constexpr double kPositionWeight = 1.0 / 20;  // process/measurement noise relative to the box height
constexpr double kVelocityWeight = 1.0 / 160;
constexpr double kBig = 1e9;

using Vec4 = std::array<double, 4>;

Vec4 to_measurement(const float* b) {
  const double w = b[2] - b[0], h = b[3] - b[1];
  return {b[0] + w / 2, b[1] + h / 2, w / h, h};
}

std::array<float, 4> to_box(const std::array<double, 8>& x) {
  const double h = x[3], w = x[2] * x[3];
  return {static_cast<float>(x[0] - w / 2), static_cast<float>(x[1] - h / 2), static_cast<float>(x[0] + w / 2),
          static_cast<float>(x[1] + h / 2)};
}

ByteTracker::Kalman initiate(const Vec4& z) {
  ByteTracker::Kalman k;
  for (int i = 0; i < 4; ++i) k.x[i] = z[i];
  const double h = z[3];
  const double std[8] = {2 * kPositionWeight * h, 2 * kPositionWeight * h, 1e-2, 2 * kPositionWeight * h,
                         10 * kVelocityWeight * h, 10 * kVelocityWeight * h, 1e-5, 10 * kVelocityWeight * h};
  for (int i = 0; i < 8; ++i) k.P[i * 8 + i] = std[i] * std[i];
  return k;
}

void predict(ByteTracker::Kalman& k, bool lost) {
  if (lost) k.x[7] = 0;  // a lost track keeps its size
  const double h = k.x[3];
  const double q[8] = {kPositionWeight * h, kPositionWeight * h, 1e-2, kPositionWeight * h,
                       kVelocityWeight * h, kVelocityWeight * h, 1e-5, kVelocityWeight * h};
  for (int i = 0; i < 4; ++i) k.x[i] += k.x[i + 4];
  // P = F P F^T + Q with F = [[I, I], [0, I]]
  std::array<double, 64> fp{};
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) fp[r * 8 + c] = k.P[r * 8 + c] + (r < 4 ? k.P[(r + 4) * 8 + c] : 0.0);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) k.P[r * 8 + c] = fp[r * 8 + c] + (c < 4 ? fp[r * 8 + c + 4] : 0.0);
  for (int i = 0; i < 8; ++i) k.P[i * 8 + i] += q[i] * q[i];
}

// Cholesky solve of S X = B for the 4x4 innovation covariance S (symmetric positive definite).
bool solve4(std::array<double, 16> S, std::array<double, 32>& B /* 4 x 8 */) {
  std::array<double, 16> L{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = S[i * 4 + j];
      for (int k = 0; k < j; ++k) s -= L[i * 4 + k] * L[j * 4 + k];
      if (i == j) {
        if (!(s > 0)) return false;
        L[i * 4 + i] = std::sqrt(s);
      } else {
        L[i * 4 + j] = s / L[j * 4 + j];
      }
    }
  }
  for (int c = 0; c < 8; ++c) {
    double y[4];
    for (int i = 0; i < 4; ++i) {
      double s = B[i * 8 + c];
      for (int k = 0; k < i; ++k) s -= L[i * 4 + k] * y[k];
      y[i] = s / L[i * 4 + i];
    }
    for (int i = 3; i >= 0; --i) {
      double s = y[i];
      for (int k = i + 1; k < 4; ++k) s -= L[k * 4 + i] * B[k * 8 + c];
      B[i * 8 + c] = s / L[i * 4 + i];
    }
  }
  return true;
}

void correct(ByteTracker::Kalman& k, const Vec4& z) {
  const double h = k.x[3];
  const double r[4] = {kPositionWeight * h, kPositionWeight * h, 1e-1, kPositionWeight * h};
  std::array<double, 16> S{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) S[i * 4 + j] = k.P[i * 8 + j] + (i == j ? r[i] * r[i] : 0.0);
  // K^T = S^-1 (H P) ; H P = first four rows of P (4 x 8)
  std::array<double, 32> kt{};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 8; ++c) kt[i * 8 + c] = k.P[i * 8 + c];
  if (!solve4(S, kt)) return;  // degenerate covariance: keep the prediction
  double innovation[4];
  for (int i = 0; i < 4; ++i) innovation[i] = z[i] - k.x[i];
  for (int c = 0; c < 8; ++c)
    for (int i = 0; i < 4; ++i) k.x[c] += kt[i * 8 + c] * innovation[i];
  // P -= K S K^T = K (H P) with K = kt^T
  std::array<double, 64> next = k.P;
  for (int r8 = 0; r8 < 8; ++r8)
    for (int c = 0; c < 8; ++c) {
      double s = 0;
      for (int i = 0; i < 4; ++i) s += kt[i * 8 + r8] * k.P[i * 8 + c];
      next[r8 * 8 + c] -= s;
    }
  k.P = next;
}

}  // namespace

std::vector<int> assign(const std::vector<double>& cost, std::size_t rows, std::size_t cols, double limit) {
  std::vector<int> match(rows, -1);
  if (rows == 0 || cols == 0) return match;
  // Square problem of size rows + cols: each row may stay unmatched at limit / 2, each column too, so a
  // pair is chosen only when it costs less than leaving both unmatched (lapjv's cost_limit).
  const std::size_t n = rows + cols;
  auto a = [&](std::size_t i, std::size_t j) -> double {
    if (i < rows && j < cols) {
      const double c = cost[i * cols + j];
      return c <= limit ? c : kBig;
    }
    if (i < rows) return j - cols == i ? limit / 2 : kBig;
    if (j < cols) return i - rows == j ? limit / 2 : kBig;
    return 0.0;
  };
  // Hungarian algorithm with potentials, O(n^3); 1-based columns, p[j] = row of column j.
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0), minv(n + 1);
  std::vector<std::size_t> p(n + 1, 0), way(n + 1, 0);
  std::vector<char> used(n + 1);
  for (std::size_t i = 1; i <= n; ++i) {
    p[0] = i;
    std::size_t j0 = 0;
    std::fill(minv.begin(), minv.end(), std::numeric_limits<double>::infinity());
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const std::size_t i0 = p[j0];
      double delta = std::numeric_limits<double>::infinity();
      std::size_t j1 = 0;
      for (std::size_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = a(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (std::size_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const std::size_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  for (std::size_t j = 1; j <= cols; ++j) {
    const std::size_t i = p[j];
    if (i >= 1 && i <= rows && cost[(i - 1) * cols + (j - 1)] <= limit) match[i - 1] = static_cast<int>(j - 1);
  }
  return match;
}

ByteTracker::ByteTracker(const TrackerParams& params) : params_(params) { check_params(); }

void ByteTracker::check_params() const {
  const TrackerParams& p = params_;
  auto unit = [](float v) { return std::isfinite(v) && v >= 0.f && v <= 1.f; };
  require(unit(p.high_threshold) && unit(p.low_threshold) && unit(p.birth_threshold),
          "tracker thresholds must be in [0, 1]");
  require(p.low_threshold <= p.high_threshold, "tracker low_threshold must not exceed high_threshold");
  require(unit(p.first_min_iou) && unit(p.second_min_iou) && unit(p.unconfirmed_min_iou),
          "tracker IoU limits must be in [0, 1]");
  require(p.track_buffer >= 0 && p.track_buffer <= 100000, "track_buffer must be in [0, 100000]");
  require(std::isfinite(p.frame_rate) && p.frame_rate > 0.f && p.frame_rate <= 10000.f,
          "frame_rate must be in (0, 10000]");
}

void ByteTracker::reset() {
  tracks_.clear();
  frame_ = 0;
}

std::size_t ByteTracker::live_tracks() const {
  return static_cast<std::size_t>(std::count_if(tracks_.begin(), tracks_.end(), [](const Track& t) {
    return t.state != State::Removed;
  }));
}

TrackIds ByteTracker::update(const float* boxes, const float* scores, std::size_t n) {
  require(n == 0 || (boxes != nullptr && scores != nullptr), "tracker: null detections");
  require(n <= 100000, "tracker: too many detections in one frame");
  for (std::size_t i = 0; i < n; ++i) {
    const float* b = boxes + 4 * i;
    require(std::isfinite(b[0]) && std::isfinite(b[1]) && std::isfinite(b[2]) && std::isfinite(b[3]) &&
                std::isfinite(scores[i]),
            "tracker: boxes and scores must be finite");
    require(b[2] > b[0] && b[3] > b[1], "tracker: boxes must be xyxy with x2 > x1 and y2 > y1");
  }
  ++frame_;
  const TrackerParams& p = params_;
  TrackIds ids(n, -1);
  std::vector<std::size_t> high, low;
  for (std::size_t i = 0; i < n; ++i) {
    if (scores[i] >= p.high_threshold) high.push_back(i);
    else if (scores[i] > p.low_threshold) low.push_back(i);
  }
  std::vector<std::size_t> pool, unconfirmed;  // indices into tracks_
  for (std::size_t t = 0; t < tracks_.size(); ++t) {
    Track& tr = tracks_[t];
    if (tr.state == State::Removed) continue;
    predict(tr.kf, tr.state == State::Lost);
    if (tr.state == State::Tracked && !tr.activated) unconfirmed.push_back(t);
    else pool.push_back(t);
  }
  std::vector<std::array<float, 4>> predicted(tracks_.size());
  for (std::size_t t = 0; t < tracks_.size(); ++t) predicted[t] = to_box(tracks_[t].kf.x);

  auto match = [&](const std::vector<std::size_t>& trs, const std::vector<std::size_t>& dets, double min_sim,
                   bool fuse) {
    std::vector<double> cost(trs.size() * dets.size());
    for (std::size_t a = 0; a < trs.size(); ++a)
      for (std::size_t d = 0; d < dets.size(); ++d) {
        double sim = box_iou(predicted[trs[a]].data(), boxes + 4 * dets[d]);
        if (fuse) sim *= scores[dets[d]];
        cost[a * dets.size() + d] = 1.0 - sim;
      }
    return assign(cost, trs.size(), dets.size(), 1.0 - min_sim);
  };
  auto take = [&](Track& tr, std::size_t det) {
    correct(tr.kf, to_measurement(boxes + 4 * det));
    tr.state = State::Tracked;
    if (!tr.activated) tr.id = next_id_++;  // ids are given at confirmation, so they stay consecutive
    tr.activated = true;
    tr.last_frame = frame_;
    tr.score = scores[det];
    ids[det] = tr.id;
  };

  // 1. high-score detections with every live track
  const std::vector<int> first = match(pool, high, p.first_min_iou, p.fuse_score);
  std::vector<char> high_used(high.size(), 0);
  std::vector<std::size_t> remaining;  // pool tracks still unmatched and tracked
  for (std::size_t a = 0; a < pool.size(); ++a) {
    if (first[a] >= 0) {
      take(tracks_[pool[a]], high[static_cast<std::size_t>(first[a])]);
      high_used[static_cast<std::size_t>(first[a])] = 1;
    } else if (tracks_[pool[a]].state == State::Tracked) {
      remaining.push_back(pool[a]);
    }
  }
  // 2. low-score detections with the tracked ones left (occlusion recovery)
  const std::vector<int> second = match(remaining, low, p.second_min_iou, false);
  for (std::size_t a = 0; a < remaining.size(); ++a) {
    if (second[a] >= 0) take(tracks_[remaining[a]], low[static_cast<std::size_t>(second[a])]);
    else tracks_[remaining[a]].state = State::Lost;
  }
  // 3. unconfirmed (one-frame) tracks with the high-score detections left
  std::vector<std::size_t> high_left;
  for (std::size_t d = 0; d < high.size(); ++d)
    if (!high_used[d]) high_left.push_back(high[d]);
  const std::vector<int> third = match(unconfirmed, high_left, p.unconfirmed_min_iou, p.fuse_score);
  std::vector<char> left_used(high_left.size(), 0);
  for (std::size_t a = 0; a < unconfirmed.size(); ++a) {
    if (third[a] >= 0) {
      take(tracks_[unconfirmed[a]], high_left[static_cast<std::size_t>(third[a])]);
      left_used[static_cast<std::size_t>(third[a])] = 1;
    } else {
      tracks_[unconfirmed[a]].state = State::Removed;
    }
  }
  // 4. births
  for (std::size_t d = 0; d < high_left.size(); ++d) {
    const std::size_t det = high_left[d];
    if (left_used[d] || scores[det] < p.birth_threshold) continue;
    Track tr;
    tr.kf = initiate(to_measurement(boxes + 4 * det));
    tr.activated = frame_ == 1;  // later births are confirmed by a second frame
    if (tr.activated) tr.id = next_id_++;
    tr.last_frame = tr.start_frame = frame_;
    tr.score = scores[det];
    if (tr.activated) ids[det] = tr.id;
    tracks_.push_back(tr);
  }
  // 5. deaths, and lost tracks that duplicate a tracked one
  const int max_lost = static_cast<int>(p.frame_rate / 30.f * static_cast<float>(p.track_buffer));
  for (Track& tr : tracks_)
    if (tr.state == State::Lost && frame_ - tr.last_frame > max_lost) tr.state = State::Removed;
  for (Track& lost : tracks_) {
    if (lost.state != State::Lost) continue;
    const std::array<float, 4> lb = to_box(lost.kf.x);
    for (const Track& live : tracks_) {
      if (live.state != State::Tracked || !live.activated) continue;
      const std::array<float, 4> tb = to_box(live.kf.x);
      if (box_iou(lb.data(), tb.data()) > 0.85) {
        lost.state = State::Removed;
        break;
      }
    }
  }
  tracks_.erase(std::remove_if(tracks_.begin(), tracks_.end(), [](const Track& t) { return t.state == State::Removed; }),
                tracks_.end());
  return ids;
}

}  // namespace edgecv
