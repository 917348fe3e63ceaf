// Greedy IoU non-maximum suppression over axis-aligned boxes.
#pragma once

#include <cstddef>
#include <vector>

namespace edgecv {

// Intersection over union of two xyxy boxes; 0 when either box is empty.
float box_iou(const float* a, const float* b);

// Greedy NMS. `boxes` holds n xyxy boxes (4*n floats), `scores` n scores.
// Returns kept indices in descending score order (ties keep the lower index first),
// at most `max_keep` of them (max_keep <= 0: no limit). Boxes whose IoU with an
// already kept box is strictly greater than `iou_threshold` are dropped.
std::vector<std::size_t> nms(const float* boxes, const float* scores, std::size_t n,
                             float iou_threshold, long max_keep);

}  // namespace edgecv
