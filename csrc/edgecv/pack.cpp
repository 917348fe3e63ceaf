#include "edgecv/pack.hpp"

#include <algorithm>
#include <cmath>

#include "edgecv/error.hpp"

namespace edgecv {

void pack_image(const std::uint8_t* src, int h, int w, std::size_t src_row_stride, float* dst,
                int out_h, int out_w, const PackParams& p) {
  require(h > 0 && w > 0 && out_h > 0 && out_w > 0, "pack_image: sizes must be positive");
  require(h <= out_h && w <= out_w, "pack_image: image is larger than the output");
  require(src_row_stride >= static_cast<std::size_t>(w) * 3, "pack_image: row stride too small");
  require(src != nullptr && dst != nullptr, "pack_image: null buffer");
  for (int c = 0; c < 3; ++c)
    require(std::isfinite(p.mean[c]) && std::isfinite(p.std[c]) && p.std[c] != 0.f,
            "pack_image: mean must be finite and std finite and non-zero");

  // One lookup table per output channel: 3 x 256 floats replaces the arithmetic per pixel.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) - p.mean[c]) / p.std[c];

  const std::size_t plane = static_cast<std::size_t>(out_h) * static_cast<std::size_t>(out_w);
  for (int c = 0; c < 3; ++c) {
    const int src_c = p.swap_rb ? 2 - c : c;
    const float* table = lut[c];
    const float pad = table[p.pad_pixel];
    float* out = dst + plane * static_cast<std::size_t>(c);
    for (int y = 0; y < h; ++y) {
      const std::uint8_t* row = src + src_row_stride * static_cast<std::size_t>(y) + src_c;
      float* o = out + static_cast<std::size_t>(y) * static_cast<std::size_t>(out_w);
      for (int x = 0; x < w; ++x) o[x] = table[row[3 * x]];
      std::fill(o + w, o + out_w, pad);
    }
    std::fill(out + static_cast<std::size_t>(h) * static_cast<std::size_t>(out_w), out + plane, pad);
  }
}

}  // namespace edgecv
