#include "edgecv/faces.hpp"

#include <algorithm>
#include <cmath>

#include "edgecv/error.hpp"
#include "edgecv/nms.hpp"

namespace edgecv {
namespace faces {

void check_output(const FaceOutput& p) {
  require(p.num_landmarks > 0 && p.num_landmarks <= 1024, "num_landmarks must be in [1, 1024]");
  require(std::isfinite(p.score_threshold), "score_threshold must be finite");
  require(std::isfinite(p.iou_threshold) && p.iou_threshold >= 0.f && p.iou_threshold <= 1.f,
          "iou_threshold must be in [0, 1]");
  require(std::isfinite(p.scale_x) && std::isfinite(p.scale_y) && p.scale_x > 0.f && p.scale_y > 0.f,
          "scale_x and scale_y must be positive and finite");
  require(std::isfinite(p.clip_width) && std::isfinite(p.clip_height), "clip size must be finite");
}

void collect(const float* scores, std::size_t rows, float threshold, std::size_t level, long top_k,
             std::vector<Candidate>& out) {
  const std::size_t first = out.size();
  // Blocks are first tested with a branch-free count the compiler vectorises: most hold no candidate.
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
  const std::size_t found = out.size() - first;
  if (top_k > 0 && found > static_cast<std::size_t>(top_k)) {
    const auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
    const auto keep_end = begin + top_k;
    std::nth_element(begin, keep_end - 1, out.end(), [](const Candidate& a, const Candidate& b) {
      return a.score > b.score || (a.score == b.score && a.row < b.row);
    });
    out.erase(keep_end, out.end());
  }
}

bool all_finite(const float* v, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

Detections finish(const std::vector<float>& boxes, const std::vector<float>& scores,
                  const std::vector<Landmarks>& landmarks, const FaceOutput& p) {
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
  for (std::size_t k : kept) {
    const float* b = &boxes[4 * k];
    out.boxes.insert(out.boxes.end(), {map_x(b[0]), map_y(b[1]), map_x(b[2]), map_y(b[3])});
    out.scores.push_back(scores[k]);
    const Landmarks& lm = landmarks[k];
    if (lm.raw == nullptr) continue;
    for (int j = 0; j < p.num_landmarks; ++j) {
      out.landmarks.push_back(map_x(lm.x0 + lm.raw[2 * j] * lm.stride));
      out.landmarks.push_back(map_y(lm.y0 + lm.raw[2 * j + 1] * lm.stride));
    }
  }
  return out;
}

}  // namespace faces
}  // namespace edgecv
