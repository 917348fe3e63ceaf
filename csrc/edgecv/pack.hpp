// Image packing: uint8 HWC image -> normalised float32 planar (CHW) network input.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgecv {

struct PackParams {
  float mean[3] = {0.f, 0.f, 0.f};  // per output channel, in pixel units
  float std[3] = {1.f, 1.f, 1.f};   // per output channel; value = (pixel - mean) / std
  bool swap_rb = false;             // output channel c reads input channel 2 - c (BGR <-> RGB)
  std::uint8_t pad_pixel = 0;       // raw pixel value of the padding (normalised like pixels)
};

// Writes a (3, out_h, out_w) float plane set. The h x w source image is placed at the top-left
// corner; the rest (right and bottom) is padding. Requires h <= out_h and w <= out_w.
// `src_row_stride` is the distance in bytes between source rows (>= 3 * w).
void pack_image(const std::uint8_t* src, int h, int w, std::size_t src_row_stride, float* dst,
                int out_h, int out_w, const PackParams& params);

}  // namespace edgecv
