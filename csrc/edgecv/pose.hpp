// Bottom-up multi-person pose grouping (OpenPose): heatmap peaks, PAF limb scoring,
// one-to-one limb matching, assembly into people.
#pragma once

#include <cstddef>
#include <vector>

namespace edgecv {

// A limb joins part_a -> part_b; its part affinity field is the (paf_x, paf_y) channel pair.
// Only `seed` limbs may start a new person (OpenPose's redundant ear-shoulder limbs do not).
struct Limb {
  int part_a = 0, part_b = 0, paf_x = 0, paf_y = 0;
  bool seed = true;
};

// Peaks closer than this many network-output cells merge (the default window when peak_radius is 0).
inline constexpr float kPeakRadiusCells = 1.5f;

// Defaults of OpenPose grouping; Python reads them from here (edgecv._core.PoseParams()).
struct PoseParams {
  float peak_threshold = 0.1f;     // minimum heatmap value of a peak
  int peak_radius = 0;             // a peak is the maximum of its (2r+1)^2 window; 0 = automatic:
                                   // round(kPeakRadiusCells / paf_scale), i.e. 1.5 network cells
  bool subpixel = true;            // quadratic refinement of peak positions
  int max_peaks_per_part = 128;    // best peaks kept per part
  int paf_samples = 10;            // samples along a candidate limb
  float paf_sample_threshold = 0.05f;  // a sample "succeeds" when its PAF . limb direction exceeds this
  float paf_success_ratio = 0.8f;  // fraction of samples that must succeed
  float limb_length_prior = 0.5f;  // penalty min(prior * map_height / length - 1, 0) on long limbs
  float paf_scale = 1.f;           // PAF pixels per heatmap pixel (1 / heatmap upsampling factor);
                                   // pixel centres are aligned as cv2.resize does
  int min_parts = 5;               // people with fewer parts are dropped (5 drops the 3-4 part
                                   // fragments of people cut by the image border)
  float min_mean_score = 0.2f;     // people whose score / parts is lower are dropped
};

struct Peak {
  int part;
  float x, y, score;  // heatmap pixels
};

struct Connection {
  int peak_a, peak_b;  // indices into the peak list
  float score;
};

struct Person {
  std::vector<int> peaks;  // per part: peak index or -1
  float score = 0.f;       // sum of peak scores and connection scores
  int parts = 0;
};

// Views over planar float maps: channels x height x width, C-contiguous.
struct MapView {
  const float* data = nullptr;
  int channels = 0, height = 0, width = 0;
};

// The window radius find_peaks uses: peak_radius, or the automatic one when it is 0.
int effective_peak_radius(const PoseParams& params);

// Validates the heatmaps (non-empty, finite) and the peak parameters. Throws InvalidInput.
void check_peak_inputs(const MapView& heatmaps, const PoseParams& params);

// Validates shapes, the limb table against the channel counts, and parameters; and that the maps
// hold only finite values. Throws InvalidInput.
void check_pose_inputs(const MapView& heatmaps, const MapView& pafs, const std::vector<Limb>& limbs,
                       const PoseParams& params);

std::vector<Peak> find_peaks(const MapView& heatmaps, const PoseParams& params);

// Candidate connections of one limb, scored along the PAF, matched one-to-one best first.
std::vector<Connection> connect_limb(const std::vector<Peak>& peaks, const MapView& pafs,
                                     const Limb& limb, int map_height, const PoseParams& params);

// Full pipeline; people sorted by descending score.
std::vector<Person> group_people(const MapView& heatmaps, const MapView& pafs,
                                 const std::vector<Limb>& limbs, const PoseParams& params,
                                 std::vector<Peak>* peaks_out = nullptr);

}  // namespace edgecv
