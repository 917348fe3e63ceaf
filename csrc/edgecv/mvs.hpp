// Multi-view stereo geometry: depth-map consistency filtering and point-cloud fusion.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgecv {

// A depth map with its camera: K (3x3, pixels of this map), E (4x4 world -> camera), row-major.
struct DepthView {
  const float* depth = nullptr;
  int height = 0, width = 0;
  std::array<double, 9> K{};
  std::array<double, 16> E{};
};

// Defaults of depth-map filtering; Python reads them from here (edgecv._core.ConsistencyParams()).
struct ConsistencyParams {
  float max_reprojection_px = 1.0f;  // forward-backward reprojection error in reference pixels
  float max_relative_depth = 0.01f;  // |d_back - d| / d
  int min_views = 2;                 // consistent source views needed to keep a pixel
  float min_confidence = 0.5f;       // photometric confidence needed (when a confidence map is given);
                                     // PatchmatchNet's confidence has a median of ~0.55 on real scenes
  unsigned threads = 0;              // worker threads over image rows (0 = all cores)
};

struct ConsistencyResult {
  std::vector<std::uint8_t> mask;   // 1 = kept
  std::vector<std::int32_t> counts; // consistent source views per pixel
  std::vector<float> fused_depth;   // mean of the reference depth and the consistent back-projections
};

// Throws InvalidInput on bad shapes, non-finite cameras or parameters.
void check_depth_view(const DepthView& view, const char* name);

ConsistencyResult check_consistency(const DepthView& ref, const std::vector<DepthView>& sources,
                                    const float* confidence, const ConsistencyParams& params);

// World-space points of the pixels with mask != 0 (all valid pixels when mask is null) and depth > 0;
// colours copied from `image` (H x W x 3, any channel order) when given.
void backproject(const DepthView& view, const std::uint8_t* mask, const std::uint8_t* image,
                 std::vector<float>& xyz, std::vector<std::uint8_t>& colours);

}  // namespace edgecv
