#include <cmath>
#include <cstdint>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/frame.hpp"

using namespace edgecv;

namespace {

FrameView bgr_view(const std::vector<std::uint8_t>& img, int w, int h) {
  FrameView f;
  f.data = img.data();
  f.width = w;
  f.height = h;
  f.row_stride = 3 * w;
  f.pixel_stride = 3;
  f.channel_stride = 1;
  return f;
}

FrameParams identity(int w, int h) {
  FrameParams p;
  p.out_width = p.resized_width = w;
  p.out_height = p.resized_height = h;
  return p;
}

}  // namespace

TEST_CASE("prepare_frame copies a BGR frame of the output size exactly, channels planar") {
  std::vector<std::uint8_t> img(3 * 4 * 2);
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<float> out(3 * 4 * 2);
  prepare_frame(bgr_view(img, 4, 2), identity(4, 2), out.data());
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) CHECK_NEAR(out[c * 8 + y * 4 + x], img[(y * 4 + x) * 3 + c], 1e-4);
}

TEST_CASE("the SIMD body and the scalar tail of a row give the same value for the same byte") {
  // 53 pixels a row: 48 through the vector path (where the CPU has one), 5 through the tables. Every byte value
  // appears in both parts, in every channel, with the channels swapped (rgb) and not.
  for (bool rgb : {false, true}) {
    const int w = 53, h = 8;
    std::vector<std::uint8_t> img(3 * w * h);
    for (std::size_t i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint8_t>((i * 37 + i / 159) % 256);
    FrameParams p = identity(w, h);
    p.out_width = w + 3;  // padded on the right
    p.rgb = rgb;
    for (int c = 0; c < 3; ++c) {
      p.mean[c] = 127.5f - 10.f * c;
      p.std[c] = 128.f / (c + 1);
    }
    std::vector<float> out(3 * static_cast<std::size_t>(p.out_width) * h);
    prepare_frame(bgr_view(img, w, h), p, out.data());
    float seen[3][256];
    bool have[3][256] = {};
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const int v = img[(y * w + x) * 3 + (rgb ? 2 - c : c)];
          const float got = out[(c * h + y) * p.out_width + x];
          CHECK_NEAR(got, (v - p.mean[c]) / p.std[c], 1e-5);
          if (have[c][v]) CHECK(got == seen[c][v]);
          seen[c][v] = got;
          have[c][v] = true;
        }
  }
}

TEST_CASE("rotation is the clockwise turn that makes the stored frame upright") {
  // Stored 3x2 (w x h) gray frame: row 0 = 1 2 3, row 1 = 4 5 6.
  const std::vector<std::uint8_t> g = {1, 2, 3, 4, 5, 6};
  FrameView f;
  f.data = g.data();
  f.width = 3;
  f.height = 2;
  f.row_stride = 3;
  f.pixel_stride = 1;
  f.format = PixelFormat::GRAY;
  // rotation 270: upright = the frame turned 270 degrees clockwise (one turn counter-clockwise):
  // 2 wide, 3 high: [3 6; 2 5; 1 4].
  FrameParams p = identity(2, 3);
  p.rotation = 270;
  std::vector<float> out(3 * 6);
  prepare_frame(f, p, out.data());
  const float want90[6] = {3, 6, 2, 5, 1, 4};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(out[i], want90[i], 1e-4);
  p.rotation = 90;  // upright = the frame turned clockwise: [4 1; 5 2; 6 3]
  prepare_frame(f, p, out.data());
  const float want270[6] = {4, 1, 5, 2, 6, 3};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(out[i], want270[i], 1e-4);
  p = identity(3, 2);
  p.rotation = 180;
  prepare_frame(f, p, out.data());
  const float want180[6] = {6, 5, 4, 3, 2, 1};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(out[i], want180[i], 1e-4);
}

TEST_CASE("NV21 and NV12 convert with BT.601 like OpenCV and differ only in chroma order") {
  // 2x2 frame: Y = 128 everywhere, one chroma pair.
  std::vector<std::uint8_t> nv21 = {128, 128, 128, 128, 200, 60};  // V=200, U=60
  std::vector<std::uint8_t> nv12 = {128, 128, 128, 128, 60, 200};  // U=60, V=200
  FrameView f;
  f.width = f.height = 2;
  f.row_stride = 2;
  f.pixel_stride = 1;
  std::vector<float> a(12), b(12);
  f.data = nv21.data();
  f.format = PixelFormat::NV21;
  prepare_frame(f, identity(2, 2), a.data());
  f.data = nv12.data();
  f.format = PixelFormat::NV12;
  prepare_frame(f, identity(2, 2), b.data());
  for (int i = 0; i < 12; ++i) CHECK_NEAR(a[i], b[i], 1e-4);
  const float y = 1.164f * 112;
  CHECK_NEAR(a[0], std::fmin(255.f, std::fmax(0.f, y + 2.018f * (60 - 128))), 1e-3);    // B
  CHECK_NEAR(a[4], y - 0.813f * (200 - 128) - 0.391f * (60 - 128), 1e-3);                // G
  CHECK_NEAR(a[8], std::fmin(255.f, y + 1.596f * (200 - 128)), 1e-3);                    // R
}

TEST_CASE("bilinear taps follow OpenCV's half-pixel centres; padding fills right and bottom") {
  const std::vector<std::uint8_t> g = {0, 100};  // 2x1
  FrameView f;
  f.data = g.data();
  f.width = 2;
  f.height = 1;
  f.row_stride = 2;
  f.pixel_stride = 1;
  f.format = PixelFormat::GRAY;
  FrameParams p;
  p.out_width = 5;
  p.out_height = 2;
  p.resized_width = 4;
  p.resized_height = 1;
  p.pad_pixel = 7;
  std::vector<float> out(3 * 10);
  prepare_frame(f, p, out.data());
  // cv2.resize([0, 100], (4, 1)): sources -0.25 (clamped), 0.25, 0.75, 1.25 (clamped) -> 0 25 75 100.
  const float want[4] = {0, 25, 75, 100};
  for (int i = 0; i < 4; ++i) CHECK_NEAR(out[i], want[i], 1e-3);
  CHECK_NEAR(out[4], 7, 1e-4);
  for (int i = 5; i < 10; ++i) CHECK_NEAR(out[i], 7, 1e-4);
}

TEST_CASE("frames are checked") {
  std::vector<std::uint8_t> img(3 * 3 * 3);
  std::vector<float> out(3 * 9);
  FrameView f = bgr_view(img, 3, 3);
  FrameParams p = identity(3, 3);
  p.rotation = 45;
  CHECK_THROWS(prepare_frame(f, p, out.data()), InvalidInput);
  p = identity(3, 3);
  f.format = PixelFormat::NV21;  // odd sizes cannot hold 4:2:0 chroma
  CHECK_THROWS(prepare_frame(f, p, out.data()), InvalidInput);
  f = bgr_view(img, 3, 3);
  p.resized_width = 4;
  CHECK_THROWS(prepare_frame(f, p, out.data()), InvalidInput);
}
