// YuNet post-processing: one prior per feature-map cell, anchor-free decoding, thresholding, top-k and NMS.
#pragma once

#include <cstddef>
#include <vector>

#include "edgecv/faces.hpp"

namespace edgecv {

// Raw head outputs of one level, rows = ceil(H / stride) * ceil(W / stride), row-major over the cells.
// cls, obj: rows x 1 (after sigmoid); boxes: rows x 4 as (dx, dy, log w, log h) in units of stride;
// landmarks: rows x (2 * num_landmarks) offsets from the cell's corner in units of stride, or nullptr.
struct YunetLevel {
  int stride = 0;
  const float* cls = nullptr;
  const float* obj = nullptr;
  const float* boxes = nullptr;
  const float* landmarks = nullptr;
  std::size_t rows = 0;
};

// Defaults of YuNet decoding; Python reads them from here (edgecv._core.YunetParams()). The score is
// sqrt(clamp(cls) * clamp(obj)), as OpenCV's FaceDetectorYN computes it (the training repository ranks by
// cls * obj: the same order, another scale). NMS at IoU 0.3 as OpenCV; the score threshold is lower than
// OpenCV's 0.9 because edgecv letterboxes whole photos into the network input, where faces are small.
struct YunetParams : FaceOutput {
  int input_width = 0;  // network input size in pixels
  int input_height = 0;
  YunetParams() {
    score_threshold = 0.6f;
    iou_threshold = 0.3f;
  }
};

// Decodes all levels: score, per-level top-k, centre = (cell + (dx, dy)) * stride, size = exp(log w, log h) *
// stride, landmarks = (cell + offset) * stride; NMS across levels; original-image pixels. Throws InvalidInput
// on inconsistent shapes or parameters. Rows with non-finite values are skipped.
Detections decode_yunet(const std::vector<YunetLevel>& levels, const YunetParams& params);

}  // namespace edgecv
