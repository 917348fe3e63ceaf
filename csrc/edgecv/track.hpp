// Multi-object tracking by detection, ByteTrack-style: a constant-velocity Kalman filter per track on the
// box state (centre x, centre y, aspect ratio, height), a first association of high-score detections with
// all live tracks by IoU (optionally weighted by score), a second association of low-score detections with
// the tracks still unmatched (recovering occluded objects), birth from unmatched high-score detections and
// death after `track_buffer` frames without a match. Assignments are optimal (Hungarian) with a cost limit.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgecv {

struct TrackerParams {
  float high_threshold = 0.5f;       // detections at or above: first association and births
  float low_threshold = 0.1f;        // detections below are ignored; in between: second association
  float birth_threshold = 0.6f;      // a new track needs a detection scoring at least this
  float first_min_iou = 0.2f;        // first association: IoU (x score when fuse_score) of a match
  float second_min_iou = 0.5f;       // second association (low-score detections)
  float unconfirmed_min_iou = 0.3f;  // new tracks' second frame
  bool fuse_score = true;            // weight the first association's IoU by the detection score
  int track_buffer = 30;             // frames (at 30 fps) a lost track is kept for re-identification
  float frame_rate = 30.f;           // of the source, scales track_buffer
};

// One frame's answer: per input detection, its track id (-1 when it belongs to no confirmed track).
using TrackIds = std::vector<std::int64_t>;

class ByteTracker {
 public:
  explicit ByteTracker(const TrackerParams& params = TrackerParams());

  // boxes: n x 4 xyxy, scores: n. Throws InvalidInput on non-finite or inverted boxes.
  [[nodiscard]] TrackIds update(const float* boxes, const float* scores, std::size_t n);

  // Forget every track (ids keep increasing).
  void reset();

  [[nodiscard]] std::size_t live_tracks() const;
  [[nodiscard]] const TrackerParams& params() const { return params_; }

  struct Kalman {
    std::array<double, 8> x{};   // cx, cy, a, h and their velocities
    std::array<double, 64> P{};  // covariance, row-major
  };

 private:
  enum class State { Tracked, Lost, Removed };
  struct Track {
    Kalman kf;
    std::int64_t id = -1;
    State state = State::Tracked;
    bool activated = false;
    int last_frame = 0;
    int start_frame = 0;
    float score = 0.f;
  };

  void check_params() const;

  TrackerParams params_;
  std::vector<Track> tracks_;
  std::int64_t next_id_ = 1;
  int frame_ = 0;
};

// Optimal one-to-one assignment minimising the total cost of an n x m matrix (row-major) where a pair
// costing more than `limit` is never chosen (rows and columns may stay unmatched). Returns, per row, the
// matched column or -1.
std::vector<int> assign(const std::vector<double>& cost, std::size_t rows, std::size_t cols, double limit);

}  // namespace edgecv
