// What the face decoders share (SCRFD, YuNet): candidate selection by score, per-level top-k, and the last
// step from decoded network-pixel boxes to original-image faces (NMS, scaling, clipping).
#pragma once

#include <cstddef>
#include <vector>

namespace edgecv {

struct Detections {
  std::vector<float> boxes;      // n x 4, xyxy
  std::vector<float> scores;     // n
  std::vector<float> landmarks;  // n x num_landmarks x 2, empty when the model has none
  std::size_t size() const { return scores.size(); }
};

// Thresholds, limits and the mapping to the original image, common to every face decoder.
struct FaceOutput {
  float score_threshold = 0.5f;
  float iou_threshold = 0.4f;
  long pre_nms_top_k = 5000;  // per level; <= 0 means no limit
  long max_detections = 1000; // after NMS; <= 0 means no limit
  // Network-input pixels -> original-image pixels: x_orig = x_net / scale.
  float scale_x = 1.f;
  float scale_y = 1.f;
  // Clip boxes and landmarks to [0, clip_width] x [0, clip_height]; <= 0 disables clipping.
  float clip_width = 0.f;
  float clip_height = 0.f;
  int num_landmarks = 5;
};

namespace faces {

struct Candidate {
  float score;
  std::size_t level;
  std::size_t row;
};

// Checks the fields of FaceOutput (InvalidInput naming the first bad one).
void check_output(const FaceOutput& p);

// Appends rows whose score is >= threshold (NaN and +inf excluded), then keeps the best `top_k` of those
// just added (top_k <= 0: all). Ties keep the lower row.
void collect(const float* scores, std::size_t rows, float threshold, std::size_t level, long top_k,
             std::vector<Candidate>& out);

bool all_finite(const float* v, int n);

// One decoded candidate: its xyxy box in network pixels is in the box list; landmarks are
// (anchor + raw * stride) in network pixels.
struct Landmarks {
  const float* raw;  // 2 * num_landmarks offsets in units of stride, or nullptr
  float x0, y0, stride;
};

// NMS over the decoded boxes (4 floats each, network pixels) across levels, max_detections kept, then
// boxes and landmarks mapped to original pixels.
Detections finish(const std::vector<float>& boxes, const std::vector<float>& scores,
                  const std::vector<Landmarks>& landmarks, const FaceOutput& p);

}  // namespace faces
}  // namespace edgecv
