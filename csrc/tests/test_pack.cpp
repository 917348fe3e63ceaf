#include <cstdint>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/pack.hpp"

using namespace edgecv;

TEST_CASE("pack_image normalises, swaps channels and pads right/bottom") {
  // 1 x 2 BGR image: pixel0 = (10, 20, 30), pixel1 = (40, 50, 60); output 2 x 3.
  const std::vector<std::uint8_t> img = {10, 20, 30, 40, 50, 60};
  PackParams p;
  for (int c = 0; c < 3; ++c) { p.mean[c] = 10.f; p.std[c] = 2.f; }
  p.swap_rb = true;
  p.pad_pixel = 0;
  std::vector<float> out(3 * 2 * 3, -99.f);
  pack_image(img.data(), 1, 2, 6, out.data(), 2, 3, p);
  // channel 0 = R (source channel 2): (30-10)/2 = 10, (60-10)/2 = 25, pad = -5
  CHECK_NEAR(out[0], 10.0, 1e-6);
  CHECK_NEAR(out[1], 25.0, 1e-6);
  CHECK_NEAR(out[2], -5.0, 1e-6);
  CHECK_NEAR(out[3], -5.0, 1e-6);  // second row is padding
  // channel 2 = B: (10-10)/2 = 0, (40-10)/2 = 15
  CHECK_NEAR(out[12], 0.0, 1e-6);
  CHECK_NEAR(out[13], 15.0, 1e-6);
  for (float v : out) CHECK(v != -99.f);
}

TEST_CASE("pack_image honours the source row stride") {
  // 2 x 1 image stored with 2 bytes of row padding.
  const std::vector<std::uint8_t> img = {1, 2, 3, 0, 0, 4, 5, 6, 0, 0};
  PackParams p;
  std::vector<float> out(3 * 2 * 1);
  pack_image(img.data(), 2, 1, 5, out.data(), 2, 1, p);
  CHECK_NEAR(out[0], 1.0, 1e-6);
  CHECK_NEAR(out[1], 4.0, 1e-6);
  CHECK_NEAR(out[4], 3.0, 1e-6);
  CHECK_NEAR(out[5], 6.0, 1e-6);
}

TEST_CASE("pack_image refuses bad sizes") {
  const std::vector<std::uint8_t> img(12, 0);
  std::vector<float> out(12);
  PackParams p;
  CHECK_THROWS(pack_image(img.data(), 2, 2, 6, out.data(), 1, 2, p), InvalidInput);
  CHECK_THROWS(pack_image(img.data(), 2, 2, 5, out.data(), 2, 2, p), InvalidInput);
  CHECK_THROWS(pack_image(img.data(), 0, 2, 6, out.data(), 2, 2, p), InvalidInput);
  p.std[1] = 0.f;
  CHECK_THROWS(pack_image(img.data(), 2, 2, 6, out.data(), 2, 2, p), InvalidInput);
}
