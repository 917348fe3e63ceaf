// Camera-native frames -> network input in one pass: pixel format conversion (BGR/RGB/BGRA/RGBA/gray,
// YUV 4:2:0 NV21/NV12/I420, YUYV 4:2:2), rotation to upright, bilinear resize (OpenCV's INTER_LINEAR
// sampling), normalisation and planar packing with padding. No full-size intermediate image is made.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgecv {

enum class PixelFormat { BGR, RGB, BGRA, RGBA, GRAY, NV21, NV12, I420, YUYV };

// A frame in memory. Packed formats: pixel (x, y) channel c at
// data + y * row_stride + x * pixel_stride + c * channel_stride (strides in bytes, any sign).
// YUV 4:2:0 (NV21, NV12, I420): OpenCV's layout, a (height * 3 / 2) x width array of bytes: the Y plane
// in the first `height` rows, then the chroma (interleaved VU / UV rows, or the U plane then the V plane
// packed two chroma rows per array row); `row_stride` is the distance between array rows. YUYV: pixel
// pairs Y0 U Y1 V, `pixel_stride` 2 bytes. Width and height must be even for YUV formats.
struct FrameView {
  const std::uint8_t* data = nullptr;
  int width = 0;   // picture size as stored (before rotation)
  int height = 0;
  std::ptrdiff_t row_stride = 0;
  std::ptrdiff_t pixel_stride = 0;
  std::ptrdiff_t channel_stride = 1;
  PixelFormat format = PixelFormat::BGR;
};

struct FrameParams {
  int rotation = 0;          // degrees the frame must be turned clockwise to be upright: 0, 90, 180 or 270
  int out_width = 0;         // network input size
  int out_height = 0;
  int resized_width = 0;     // the upright picture is resized to this and placed at the top-left
  int resized_height = 0;
  float mean[3] = {0.f, 0.f, 0.f};  // per output channel, pixel units
  float std[3] = {1.f, 1.f, 1.f};
  bool rgb = false;          // output channels R, G, B (else B, G, R)
  std::uint8_t pad_pixel = 0;  // raw value of the padding (normalised like pixels)
  bool pad_written = false;  // dst already holds this padding (a reused buffer): a pass may skip writing it
};

// Size (height, width) of the upright picture.
void upright_size(const FrameView& frame, int rotation, int& height, int& width);

// Throws InvalidInput on bad sizes, strides, formats or parameters.
void check_frame(const FrameView& frame, const FrameParams& params);

// Writes a (3, out_height, out_width) float32 tensor. Upright 3-channel BGR/RGB pictures with contiguous pixels are
// resized with OpenCV's INTER_LINEAR 8-bit arithmetic, bit for bit (cv2.resize then the pack, in one pass); other
// formats and rotations sample bilinearly in float at the same positions (within 0.5 of a pixel level of that).
void prepare_frame(const FrameView& frame, const FrameParams& params, float* dst);

// Whether this build and CPU resize upright BGR/RGB pictures with SIMD (else a scalar pass that gives the same
// values: callers with a faster resize of their own, like OpenCV's, may prefer it).
[[nodiscard]] bool fast_linear_resize();

}  // namespace edgecv
