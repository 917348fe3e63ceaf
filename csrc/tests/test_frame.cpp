#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
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

namespace {

// OpenCV's INTER_LINEAR on 8-bit pictures written out plainly (resize.cpp: HResizeLinear, VResizeLinearVec_32s8u),
// the specification prepare_frame's fused pass follows; tests/core/test_core_bindings.py checks it against
// cv2.resize itself.
std::vector<std::uint8_t> opencv_linear(const std::vector<std::uint8_t>& img, int W, int H, int w, int h) {
  struct Tap {
    int i0, i1, w0, w1;
  };
  auto taps = [](int out, int in, bool clamp) {
    std::vector<Tap> t(out);
    const double scale = 1.0 / (static_cast<double>(out) / in);
    for (int o = 0; o < out; ++o) {
      float f = static_cast<float>((o + 0.5) * scale - 0.5);
      int s = static_cast<int>(std::floor(f));
      f -= static_cast<float>(s);
      int s1 = s + 1;
      if (clamp) {
        if (s < 0) f = 0.f, s = 0;
        if (s >= in - 1) f = 0.f, s = in - 1;
        s1 = std::min(s + 1, in - 1);
      }
      t[o] = {std::clamp(s, 0, in - 1), std::clamp(s1, 0, in - 1), static_cast<int>(std::lrint((1.f - f) * 2048.f)),
              static_cast<int>(std::lrint(f * 2048.f))};
    }
    return t;
  };
  const auto tx = taps(w, W, true), ty = taps(h, H, false);
  auto sum = [&](int row, int x, int c) {  // horizontal sum >> 4
    const std::uint8_t* r = &img[static_cast<std::size_t>(row) * W * 3];
    return (r[3 * tx[x].i0 + c] * tx[x].w0 + r[3 * tx[x].i1 + c] * tx[x].w1) >> 4;
  };
  std::vector<std::uint8_t> out(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int v = ((sum(ty[y].i0, x, c) * ty[y].w0) >> 16) + ((sum(ty[y].i1, x, c) * ty[y].w1) >> 16);
        out[(static_cast<std::size_t>(y) * w + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp((v + 2) >> 2, 0, 255));
      }
  return out;
}

}  // namespace

TEST_CASE("BGR pictures are resized with OpenCV's 8-bit INTER_LINEAR arithmetic, bit for bit") {
  // Up, down (2x, 3x, 9x: the vector path's byte windows), 1-pixel sides, odd widths; the fused pass (SIMD where the
  // CPU has it, else scalar) against the plain arithmetic above followed by the pack of an unscaled picture.
  const int sizes[][4] = {{580, 330, 640, 364}, {1280, 886, 640, 443}, {1920, 1080, 640, 360}, {1800, 90, 200, 45},
                          {1, 1, 7, 5},         {2, 3, 64, 64},        {77, 101, 160, 211}, {609, 31, 593, 30},
                          {40, 40, 33, 35},     {3, 700, 1, 650}};
  std::uint32_t seed = 12345;
  for (const auto& s : sizes) {
    const int W = s[0], H = s[1], w = s[2], h = s[3];
    std::vector<std::uint8_t> img(static_cast<std::size_t>(W) * H * 3);
    for (auto& b : img) b = static_cast<std::uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
    const std::vector<std::uint8_t> small = opencv_linear(img, W, H, w, h);
    FrameParams p;
    p.out_width = w + 5;
    p.out_height = h + 2;
    p.resized_width = w;
    p.resized_height = h;
    p.rgb = true;
    for (int c = 0; c < 3; ++c) {
      p.mean[c] = 120.f + c;
      p.std[c] = 57.f + 3 * c;
    }
    const std::size_t n = 3 * static_cast<std::size_t>(p.out_width) * p.out_height;
    std::vector<float> fused(n), expected(n);
    prepare_frame(bgr_view(img, W, H), p, fused.data());
    prepare_frame(bgr_view(small, w, h), p, expected.data());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < n; ++i) differ += fused[i] != expected[i];
    CHECK(differ == 0);
    if (differ) std::cerr << "  " << W << "x" << H << " -> " << w << "x" << h << ": " << differ << " values differ\n";
  }
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
