#include "edgecv/scrfd.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "edgecv/error.hpp"
#include "edgecv/nms.hpp"

namespace edgecv {

std::shared_ptr<const std::vector<float>> AnchorCache::centres(int feature_h, int feature_w,
                                                               int stride, int num_anchors) {
  require(feature_h > 0 && feature_w > 0 && stride > 0 && num_anchors > 0,
          "anchor grid dimensions must be positive");
  const std::size_t anchors = static_cast<std::size_t>(feature_h) * static_cast<std::size_t>(feature_w) *
                              static_cast<std::size_t>(num_anchors);
  require(feature_h <= (1 << 20) && feature_w <= (1 << 20) && num_anchors <= 64 && anchors <= kMaxAnchors &&
              static_cast<long long>(std::max(feature_h, feature_w)) * stride <= (1LL << 30),
          "anchor grid too large");
  const Key key{feature_h, feature_w, stride, num_anchors};
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (cached_anchors_ + anchors > kMaxCachedAnchors) {  // grids in use stay alive through shared_ptr
    cache_.clear();
    cached_anchors_ = 0;
  }
  cached_anchors_ += anchors;
  auto grid = std::make_shared<std::vector<float>>();
  grid->reserve(static_cast<std::size_t>(feature_h) * feature_w * num_anchors * 2);
  for (int y = 0; y < feature_h; ++y)
    for (int x = 0; x < feature_w; ++x)
      for (int a = 0; a < num_anchors; ++a) {
        grid->push_back(static_cast<float>(x * stride));
        grid->push_back(static_cast<float>(y * stride));
      }
  cache_.emplace(key, grid);
  return grid;
}

std::size_t AnchorCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_.size();
}

AnchorCache& default_anchor_cache() {
  static AnchorCache cache;
  return cache;
}

int feature_size(int input_side, int stride) {
  require(input_side > 0 && stride > 0, "input size and stride must be positive");
  return (input_side + stride - 1) / stride;
}

namespace {

void check_params(const std::vector<ScrfdLevel>& levels, const ScrfdParams& p) {
  require(!levels.empty(), "at least one SCRFD level is required");
  require(p.input_width > 0 && p.input_height > 0, "input size must be positive");
  require(p.num_anchors > 0 && p.num_anchors <= 64, "num_anchors must be in [1, 64]");
  faces::check_output(p);
  const bool with_landmarks = levels.front().landmarks != nullptr;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const ScrfdLevel& lv = levels[i];
    // Messages are only built on failure: this check runs on every frame.
    auto fail = [&](const std::string& what) {
      throw InvalidInput("level " + std::to_string(i) + " (stride " + std::to_string(lv.stride) +
                         "): " + what);
    };
    if (lv.stride <= 0 || lv.stride > 4096) fail("stride must be in [1, 4096]");
    for (std::size_t j = 0; j < i; ++j)
      if (levels[j].stride == lv.stride) fail("duplicate stride");
    const std::size_t expected = static_cast<std::size_t>(feature_size(p.input_height, lv.stride)) *
                                 static_cast<std::size_t>(feature_size(p.input_width, lv.stride)) *
                                 static_cast<std::size_t>(p.num_anchors);
    if (lv.rows != expected)
      fail("expected " + std::to_string(expected) + " rows for input " +
           std::to_string(p.input_width) + "x" + std::to_string(p.input_height) + ", got " +
           std::to_string(lv.rows));
    if (lv.scores == nullptr || lv.boxes == nullptr) fail("scores and boxes are required");
    if ((lv.landmarks != nullptr) != with_landmarks)
      fail("landmarks must be given for all levels or for none");
  }
}

}  // namespace

Detections decode_scrfd(const std::vector<ScrfdLevel>& levels, const ScrfdParams& p,
                        AnchorCache& cache) {
  check_params(levels, p);
  const bool with_landmarks = levels.front().landmarks != nullptr;
  const int lm_dims = 2 * p.num_landmarks;

  // 1. Score threshold and per-level top-k (only candidates are decoded).
  std::vector<faces::Candidate> candidates;
  for (std::size_t li = 0; li < levels.size(); ++li)
    faces::collect(levels[li].scores, levels[li].rows, p.score_threshold, li, p.pre_nms_top_k, candidates);

  // 2. Decode the candidates' boxes (distances from the anchor centre, network pixels).
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<faces::Landmarks> marks;
  boxes.reserve(candidates.size() * 4);
  scores.reserve(candidates.size());
  marks.reserve(candidates.size());
  for (const faces::Candidate& c : candidates) {
    const ScrfdLevel& lv = levels[c.level];
    const float* d = lv.boxes + 4 * c.row;
    const float* lm = with_landmarks ? lv.landmarks + lm_dims * c.row : nullptr;
    if (!faces::all_finite(d, 4) || (lm != nullptr && !faces::all_finite(lm, lm_dims))) continue;
    const auto grid = cache.centres(feature_size(p.input_height, lv.stride),
                                    feature_size(p.input_width, lv.stride), lv.stride,
                                    p.num_anchors);
    const float cx = (*grid)[2 * c.row];
    const float cy = (*grid)[2 * c.row + 1];
    const float s = static_cast<float>(lv.stride);
    boxes.insert(boxes.end(), {cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s});
    scores.push_back(c.score);
    marks.push_back({lm, cx, cy, s});
  }

  // 3. NMS across levels, then map to original pixels.
  return faces::finish(boxes, scores, marks, p);
}

}  // namespace edgecv
