// SCRFD post-processing: anchor centres, distance decoding, thresholding, top-k and NMS.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "edgecv/faces.hpp"

namespace edgecv {

// Raw head outputs of one pyramid level, rows = feature_h * feature_w * num_anchors.
// scores: rows x 1, boxes: rows x 4 (l, t, r, b in units of stride),
// landmarks: rows x (2 * num_landmarks) offsets in units of stride, or nullptr.
struct ScrfdLevel {
  int stride = 0;
  const float* scores = nullptr;
  const float* boxes = nullptr;
  const float* landmarks = nullptr;
  std::size_t rows = 0;
};

// Defaults of SCRFD decoding; Python reads them from here (edgecv._core.ScrfdParams()).
struct ScrfdParams : FaceOutput {
  int input_width = 0;   // network input size in pixels
  int input_height = 0;
  int num_anchors = 2;   // anchors per feature-map location
};

// Anchor centres (x, y) of one feature map, in network-input pixels, one pair per anchor
// (anchors of one location are consecutive). Computed once per (height, width, stride, anchors).
// The cache holds at most kMaxCachedAnchors anchors in all (it is emptied when a new grid would pass
// that; grids still in use stay alive through their shared_ptr), so a long-running process that sees
// many input sizes stays within ~32 MB. One grid may have at most kMaxAnchors anchors (an 8192x8192
// input at stride 8 with 2 anchors has 2^21).
class AnchorCache {
 public:
  static constexpr std::size_t kMaxAnchors = std::size_t{1} << 22;
  static constexpr std::size_t kMaxCachedAnchors = std::size_t{1} << 22;

  std::shared_ptr<const std::vector<float>> centres(int feature_h, int feature_w, int stride,
                                                    int num_anchors);
  std::size_t size() const;

 private:
  using Key = std::tuple<int, int, int, int>;
  mutable std::mutex mutex_;
  std::map<Key, std::shared_ptr<const std::vector<float>>> cache_;
  std::size_t cached_anchors_ = 0;
};

// Process-wide cache used by decode_scrfd (thread safe; keyed by shape only).
AnchorCache& default_anchor_cache();

// Feature-map side for an input side and stride: ceil(side / stride).
int feature_size(int input_side, int stride);

// Decodes all levels, keeps the best pre_nms_top_k per level above score_threshold,
// runs NMS across levels, keeps max_detections, maps to original-image pixels.
// Throws InvalidInput on inconsistent shapes or parameters. Non-finite rows are skipped.
Detections decode_scrfd(const std::vector<ScrfdLevel>& levels, const ScrfdParams& params,
                        AnchorCache& cache = default_anchor_cache());

}  // namespace edgecv
