#include "edgecv/yunet.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "edgecv/error.hpp"
#include "edgecv/scrfd.hpp"

namespace edgecv {
namespace {

void check_params(const std::vector<YunetLevel>& levels, const YunetParams& p) {
  require(!levels.empty(), "at least one YuNet level is required");
  require(p.input_width > 0 && p.input_height > 0, "input size must be positive");
  faces::check_output(p);
  const bool with_landmarks = levels.front().landmarks != nullptr;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const YunetLevel& lv = levels[i];
    auto fail = [&](const std::string& what) {
      throw InvalidInput("level " + std::to_string(i) + " (stride " + std::to_string(lv.stride) + "): " + what);
    };
    if (lv.stride <= 0 || lv.stride > 4096) fail("stride must be in [1, 4096]");
    for (std::size_t j = 0; j < i; ++j)
      if (levels[j].stride == lv.stride) fail("duplicate stride");
    const std::size_t expected = static_cast<std::size_t>(feature_size(p.input_height, lv.stride)) *
                                 static_cast<std::size_t>(feature_size(p.input_width, lv.stride));
    if (lv.rows != expected)
      fail("expected " + std::to_string(expected) + " rows for input " + std::to_string(p.input_width) + "x" +
           std::to_string(p.input_height) + ", got " + std::to_string(lv.rows));
    if (lv.cls == nullptr || lv.obj == nullptr || lv.boxes == nullptr) fail("cls, obj and boxes are required");
    if ((lv.landmarks != nullptr) != with_landmarks) fail("landmarks must be given for all levels or for none");
  }
}

inline float unit(float v) { return std::min(std::max(v, 0.f), 1.f); }

}  // namespace

Detections decode_yunet(const std::vector<YunetLevel>& levels, const YunetParams& p) {
  check_params(levels, p);
  const int lm_dims = 2 * p.num_landmarks;

  // 1. Scores (one pass per level), threshold and per-level top-k.
  std::vector<faces::Candidate> candidates;
  std::vector<float> score;
  for (std::size_t li = 0; li < levels.size(); ++li) {
    const YunetLevel& lv = levels[li];
    score.resize(lv.rows);
    for (std::size_t r = 0; r < lv.rows; ++r) score[r] = std::sqrt(unit(lv.cls[r]) * unit(lv.obj[r]));
    faces::collect(score.data(), lv.rows, p.score_threshold, li, p.pre_nms_top_k, candidates);
  }

  // 2. Decode the candidates (network pixels).
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<faces::Landmarks> marks;
  boxes.reserve(candidates.size() * 4);
  scores.reserve(candidates.size());
  marks.reserve(candidates.size());
  for (const faces::Candidate& c : candidates) {
    const YunetLevel& lv = levels[c.level];
    const float* d = lv.boxes + 4 * c.row;
    const float* lm = lv.landmarks != nullptr ? lv.landmarks + lm_dims * c.row : nullptr;
    if (!faces::all_finite(d, 4) || (lm != nullptr && !faces::all_finite(lm, lm_dims))) continue;
    const int cols = feature_size(p.input_width, lv.stride);
    const float s = static_cast<float>(lv.stride);
    const float x0 = static_cast<float>(c.row % static_cast<std::size_t>(cols)) * s;
    const float y0 = static_cast<float>(c.row / static_cast<std::size_t>(cols)) * s;
    const float cx = x0 + d[0] * s, cy = y0 + d[1] * s;
    const float half_w = std::exp(d[2]) * s * 0.5f, half_h = std::exp(d[3]) * s * 0.5f;
    if (!std::isfinite(half_w) || !std::isfinite(half_h)) continue;
    boxes.insert(boxes.end(), {cx - half_w, cy - half_h, cx + half_w, cy + half_h});
    scores.push_back(c.score);
    marks.push_back({lm, x0, y0, s});
  }

  // 3. NMS across levels, then map to original pixels.
  return faces::finish(boxes, scores, marks, p);
}

}  // namespace edgecv
