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

struct Candidate {
  float score;
  std::size_t level;
  std::size_t row;
};

void check_params(const std::vector<ScrfdLevel>& levels, const ScrfdParams& p) {
  require(!levels.empty(), "at least one SCRFD level is required");
  require(p.input_width > 0 && p.input_height > 0, "input size must be positive");
  require(p.num_anchors > 0 && p.num_anchors <= 64, "num_anchors must be in [1, 64]");
  require(p.num_landmarks > 0 && p.num_landmarks <= 1024, "num_landmarks must be in [1, 1024]");
  require(std::isfinite(p.score_threshold), "score_threshold must be finite");
  require(std::isfinite(p.iou_threshold) && p.iou_threshold >= 0.f && p.iou_threshold <= 1.f,
          "iou_threshold must be in [0, 1]");
  require(std::isfinite(p.scale_x) && std::isfinite(p.scale_y) && p.scale_x > 0.f &&
              p.scale_y > 0.f,
          "scale_x and scale_y must be positive and finite");
  require(std::isfinite(p.clip_width) && std::isfinite(p.clip_height),
          "clip size must be finite");
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

// Appends rows whose score is >= threshold (NaN and +inf excluded). Blocks are first tested
// with a branch-free count the compiler vectorises: most blocks hold no candidate at all.
void collect_above(const float* scores, std::size_t rows, float threshold, std::size_t level,
                   std::vector<Candidate>& out) {
  constexpr std::size_t kBlock = 256;
  for (std::size_t begin = 0; begin < rows; begin += kBlock) {
    const std::size_t end = std::min(rows, begin + kBlock);
    int hits = 0;
    for (std::size_t r = begin; r < end; ++r) hits += scores[r] >= threshold ? 1 : 0;
    if (hits == 0) continue;
    for (std::size_t r = begin; r < end; ++r) {
      const float s = scores[r];
      if (s >= threshold && std::isfinite(s)) out.push_back({s, level, r});
    }
  }
}

inline bool all_finite(const float* v, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

}  // namespace

Detections decode_scrfd(const std::vector<ScrfdLevel>& levels, const ScrfdParams& p,
                        AnchorCache& cache) {
  check_params(levels, p);
  const bool with_landmarks = levels.front().landmarks != nullptr;
  const int lm_dims = 2 * p.num_landmarks;

  // 1. Score threshold and per-level top-k (only candidates are decoded).
  std::vector<Candidate> candidates;
  for (std::size_t li = 0; li < levels.size(); ++li) {
    const ScrfdLevel& lv = levels[li];
    const std::size_t first = candidates.size();
    collect_above(lv.scores, lv.rows, p.score_threshold, li, candidates);
    const std::size_t found = candidates.size() - first;
    if (p.pre_nms_top_k > 0 && found > static_cast<std::size_t>(p.pre_nms_top_k)) {
      const auto begin = candidates.begin() + static_cast<std::ptrdiff_t>(first);
      const auto keep_end = begin + p.pre_nms_top_k;
      std::nth_element(begin, keep_end - 1, candidates.end(),
                       [](const Candidate& a, const Candidate& b) {
                         return a.score > b.score || (a.score == b.score && a.row < b.row);
                       });
      candidates.erase(keep_end, candidates.end());
    }
  }

  // 2. Decode boxes (network pixels) of the candidates; remember each one's anchor centre.
  struct Decoded {
    const float* landmarks;  // raw offsets of this row, or nullptr
    float cx, cy, stride;
  };
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<Decoded> decoded;
  boxes.reserve(candidates.size() * 4);
  scores.reserve(candidates.size());
  decoded.reserve(candidates.size());
  for (const Candidate& c : candidates) {
    const ScrfdLevel& lv = levels[c.level];
    const float* d = lv.boxes + 4 * c.row;
    const float* lm = with_landmarks ? lv.landmarks + lm_dims * c.row : nullptr;
    if (!all_finite(d, 4) || (lm != nullptr && !all_finite(lm, lm_dims))) continue;
    const auto grid = cache.centres(feature_size(p.input_height, lv.stride),
                                    feature_size(p.input_width, lv.stride), lv.stride,
                                    p.num_anchors);
    const float cx = (*grid)[2 * c.row];
    const float cy = (*grid)[2 * c.row + 1];
    const float s = static_cast<float>(lv.stride);
    boxes.insert(boxes.end(), {cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s});
    scores.push_back(c.score);
    decoded.push_back({lm, cx, cy, s});
  }

  // 3. NMS across levels, then map to original pixels.
  const std::vector<std::size_t> kept =
      nms(boxes.data(), scores.data(), scores.size(), p.iou_threshold, p.max_detections);

  const bool clip = p.clip_width > 0.f && p.clip_height > 0.f;
  auto map_x = [&](float x) {
    const float v = x / p.scale_x;
    return clip ? std::min(std::max(v, 0.f), p.clip_width) : v;
  };
  auto map_y = [&](float y) {
    const float v = y / p.scale_y;
    return clip ? std::min(std::max(v, 0.f), p.clip_height) : v;
  };

  Detections out;
  out.boxes.reserve(kept.size() * 4);
  out.scores.reserve(kept.size());
  if (with_landmarks) out.landmarks.reserve(kept.size() * static_cast<std::size_t>(lm_dims));
  for (std::size_t k : kept) {
    const float* b = &boxes[4 * k];
    out.boxes.insert(out.boxes.end(), {map_x(b[0]), map_y(b[1]), map_x(b[2]), map_y(b[3])});
    out.scores.push_back(scores[k]);
    const Decoded& dk = decoded[k];
    if (dk.landmarks == nullptr) continue;
    for (int j = 0; j < p.num_landmarks; ++j) {
      out.landmarks.push_back(map_x(dk.cx + dk.landmarks[2 * j] * dk.stride));
      out.landmarks.push_back(map_y(dk.cy + dk.landmarks[2 * j + 1] * dk.stride));
    }
  }
  return out;
}

}  // namespace edgecv
