#include "edgecv/frame.hpp"

#include <cstdint>
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EDGECV_PACK_SSE41 1  // compiled for SSE4.1 per function, used when the CPU has it (checked at run time)
#define EDGECV_RESIZE_AVX512 1  // the same for AVX-512 BW + VBMI (the fused resize)
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define EDGECV_PACK_NEON 1  // every aarch64 CPU has NEON
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "edgecv/error.hpp"

namespace edgecv {

namespace {

bool is_yuv420(PixelFormat f) { return f == PixelFormat::NV21 || f == PixelFormat::NV12 || f == PixelFormat::I420; }

inline float clamp255(float v) { return v < 0.f ? 0.f : (v > 255.f ? 255.f : v); }

// ITU-R BT.601, limited range, as OpenCV's COLOR_YUV2BGR_* conversions, through per-byte tables.
struct YuvTables {
  float y[256], ub[256], ug[256], vg[256], vr[256];
  YuvTables() {
    for (int i = 0; i < 256; ++i) {
      y[i] = 1.164f * static_cast<float>(std::max(0, i - 16));
      ub[i] = 2.018f * static_cast<float>(i - 128);
      ug[i] = -0.391f * static_cast<float>(i - 128);
      vg[i] = -0.813f * static_cast<float>(i - 128);
      vr[i] = 1.596f * static_cast<float>(i - 128);
    }
  }
};
const YuvTables kYuv;

inline void yuv_to_bgr(int y, int u, int v, float* bgr) {
  const float yy = kYuv.y[y];
  bgr[0] = clamp255(yy + kYuv.ub[u]);
  bgr[1] = clamp255(yy + kYuv.vg[v] + kYuv.ug[u]);
  bgr[2] = clamp255(yy + kYuv.vr[v]);
}

// Maps upright pixel (u, v) to stored pixel (x, y): x = x0 + u * ux + v * vx, y = y0 + u * uy + v * vy.
struct Rotation {
  int x0 = 0, ux = 1, vx = 0, y0 = 0, uy = 0, vy = 1;
};

Rotation rotation_map(int rotation, int width, int height) {
  // `rotation`: degrees the stored frame must be turned clockwise to be upright (Android's rotationDegrees), so
  // the stored frame is the upright picture turned `rotation` degrees counter-clockwise.
  switch (rotation) {
    case 90:  // upright (u, v) -> stored (v, W_u - 1 - u), W_u = stored height
      return {0, 0, 1, height - 1, -1, 0};
    case 180:
      return {width - 1, -1, 0, height - 1, 0, -1};
    case 270:  // upright (u, v) -> stored (H_u - 1 - v, u), H_u = stored width
      return {width - 1, 0, -1, 0, 1, 0};
    default:
      return {};
  }
}

// One stored pixel as B, G, R floats.
template <PixelFormat F>
inline void fetch(const FrameView& f, int x, int y, float* bgr) {
  const std::uint8_t* d = f.data;
  if constexpr (F == PixelFormat::GRAY) {
    const float g = d[y * f.row_stride + x * f.pixel_stride];
    bgr[0] = bgr[1] = bgr[2] = g;
  } else if constexpr (F == PixelFormat::BGR || F == PixelFormat::BGRA) {
    const std::uint8_t* p = d + y * f.row_stride + x * f.pixel_stride;
    bgr[0] = p[0];
    bgr[1] = p[f.channel_stride];
    bgr[2] = p[2 * f.channel_stride];
  } else if constexpr (F == PixelFormat::RGB || F == PixelFormat::RGBA) {
    const std::uint8_t* p = d + y * f.row_stride + x * f.pixel_stride;
    bgr[2] = p[0];
    bgr[1] = p[f.channel_stride];
    bgr[0] = p[2 * f.channel_stride];
  } else if constexpr (F == PixelFormat::YUYV) {
    const std::uint8_t* pair = d + y * f.row_stride + (x & ~1) * 2;
    yuv_to_bgr(pair[(x & 1) ? 2 : 0], pair[1], pair[3], bgr);
  } else {  // YUV 4:2:0
    const int luma = d[y * f.row_stride + x];
    const int cx = x >> 1, cy = y >> 1;
    int u, v;
    if constexpr (F == PixelFormat::I420) {
      const std::ptrdiff_t quarter = static_cast<std::ptrdiff_t>(f.width / 2) * (f.height / 2);
      const std::ptrdiff_t index = static_cast<std::ptrdiff_t>(cy) * (f.width / 2) + cx;
      const std::ptrdiff_t ui = index, vi = index + quarter;
      u = d[(f.height + ui / f.width) * f.row_stride + ui % f.width];
      v = d[(f.height + vi / f.width) * f.row_stride + vi % f.width];
    } else {
      const std::uint8_t* c = d + (f.height + cy) * f.row_stride + 2 * cx;
      u = F == PixelFormat::NV12 ? c[0] : c[1];
      v = F == PixelFormat::NV12 ? c[1] : c[0];
    }
    yuv_to_bgr(luma, u, v, bgr);
  }
}

// OpenCV INTER_LINEAR sampling positions: source index and weight of the next pixel, per output index.
void linear_taps(int out, int in, std::vector<int>& i0, std::vector<int>& i1, std::vector<float>& w) {
  i0.resize(out);
  i1.resize(out);
  w.resize(out);
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    double s = (o + 0.5) * scale - 0.5;
    int a = static_cast<int>(std::floor(s));
    float f = static_cast<float>(s - a);
    if (a < 0) {
      a = 0;
      f = 0.f;
    }
    if (a >= in - 1) {
      a = in - 1;
      f = 0.f;
    }
    i0[o] = a;
    i1[o] = std::min(a + 1, in - 1);
    w[o] = f;
  }
}

// One upright source row resampled horizontally to the output width: planar B, G, R floats (3 x width).
// Rows shared by consecutive output rows (upscaling, ~1:1) are computed once; the vertical pass is then a
// contiguous blend of two such rows.
template <PixelFormat F>
class RowCache {
 public:
  RowCache(const FrameView& f, const Rotation& r, const std::vector<int>& x0, const std::vector<int>& x1,
           const std::vector<float>& wx, int up_width)
      : f_(f), r_(r), x0_(x0), x1_(x1), wx_(wx), up_width_(up_width), width_(static_cast<int>(x0.size())),
        full_(up_width <= 2 * static_cast<int>(x0.size())) {
    if (full_) source_.resize(static_cast<std::size_t>(up_width) * 3);
  }

  const float* get(int v, int slot) {
    Row& row = rows_[slot];
    if (row.index == v) return row.values.data();
    if (rows_[1 - slot].index == v) {
      row = rows_[1 - slot];
      return row.values.data();
    }
    row.index = v;
    row.values.resize(static_cast<std::size_t>(width_) * 3);
    float* out = row.values.data();
    float px0[3], px1[3];
    for (int ox = 0; ox < width_; ++ox) {
      const float* a;
      const float* b;
      if (full_) {
        if (ox == 0) {  // convert every column of the row once (cheaper than sampling when shrinking < 2x)
          for (int u = 0; u < up_width_; ++u) put(u, v, &source_[static_cast<std::size_t>(u) * 3]);
        }
        a = &source_[static_cast<std::size_t>(x0_[ox]) * 3];
        b = &source_[static_cast<std::size_t>(x1_[ox]) * 3];
      } else {
        put(x0_[ox], v, px0);
        put(x1_[ox], v, px1);
        a = px0;
        b = px1;
      }
      const float fx = wx_[ox];
      for (int c = 0; c < 3; ++c) out[c * width_ + ox] = a[c] + fx * (b[c] - a[c]);
    }
    return out;
  }

 private:
  struct Row {
    int index = -1;
    std::vector<float> values;
  };

  void put(int u, int v, float* bgr) const {
    fetch<F>(f_, r_.x0 + u * r_.ux + v * r_.vx, r_.y0 + u * r_.uy + v * r_.vy, bgr);
  }

  const FrameView& f_;
  Rotation r_;
  const std::vector<int>& x0_;
  const std::vector<int>& x1_;
  const std::vector<float>& wx_;
  int up_width_, width_;
  bool full_;
  std::vector<float> source_;
  Row rows_[2];
};

// Rotated frames (90, 270): an upright row is a stored column, so filling rows one at a time would read one
// byte per cache line. Instead a block of upright rows is resampled at once, walking the output columns (=
// stored rows, in order) and, for each, the few contiguous stored bytes the block needs.
template <PixelFormat F>
void fill_block(const FrameView& f, const Rotation& r, const std::vector<int>& x0, const std::vector<int>& x1,
                const std::vector<float>& wx, int v_first, int v_count, std::vector<float>& block) {
  const int width = static_cast<int>(x0.size());
  block.resize(static_cast<std::size_t>(v_count) * 3 * width);
  float a[3], b[3];
  for (int ox = 0; ox < width; ++ox) {
    const float fx = wx[ox];
    for (int k = 0; k < v_count; ++k) {
      const int v = v_first + k;
      fetch<F>(f, r.x0 + x0[ox] * r.ux + v * r.vx, r.y0 + x0[ox] * r.uy + v * r.vy, a);
      fetch<F>(f, r.x0 + x1[ox] * r.ux + v * r.vx, r.y0 + x1[ox] * r.uy + v * r.vy, b);
      float* row = &block[static_cast<std::size_t>(k) * 3 * width];
      for (int c = 0; c < 3; ++c) row[c * width + ox] = a[c] + fx * (b[c] - a[c]);
    }
  }
}

template <PixelFormat F>
void run(const FrameView& f, const FrameParams& p, float* dst) {
  int up_h = 0, up_w = 0;
  upright_size(f, p.rotation, up_h, up_w);
  std::vector<int> xu0, xu1, yv0, yv1;
  std::vector<float> wx, wy;
  linear_taps(p.resized_width, up_w, xu0, xu1, wx);
  linear_taps(p.resized_height, up_h, yv0, yv1, wy);
  float scale[3], shift[3], pad[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.f / p.std[c];
    shift[c] = -p.mean[c] / p.std[c];
    pad[c] = p.pad_pixel * scale[c] + shift[c];
  }
  const std::size_t plane = static_cast<std::size_t>(p.out_height) * p.out_width;
  const int src[3] = {p.rgb ? 2 : 0, 1, p.rgb ? 0 : 2};  // output channel c reads BGR channel src[c]
  const int w = p.resized_width;
  const Rotation rot = rotation_map(p.rotation, f.width, f.height);
  auto blend = [&](int oy, const float* top, const float* bottom) {
    const float fy = wy[oy];
    for (int c = 0; c < 3; ++c) {
      float* row = dst + c * plane + static_cast<std::size_t>(oy) * p.out_width;
      const float* t = top + src[c] * w;
      const float* d = bottom + src[c] * w;
      const float sc = scale[c], sh = shift[c];
      for (int ox = 0; ox < w; ++ox) row[ox] = (t[ox] + fy * (d[ox] - t[ox])) * sc + sh;
      std::fill(row + w, row + p.out_width, pad[c]);
    }
  };
  if (p.rotation == 90 || p.rotation == 270) {
    constexpr int kBlockRows = 16;  // output rows per block
    std::vector<float> block;
    for (int oy0 = 0; oy0 < p.resized_height; oy0 += kBlockRows) {
      const int oy1 = std::min(p.resized_height, oy0 + kBlockRows);
      const int v_first = yv0[oy0], v_last = yv1[oy1 - 1];  // taps grow with oy
      fill_block<F>(f, rot, xu0, xu1, wx, v_first, v_last - v_first + 1, block);
      for (int oy = oy0; oy < oy1; ++oy)
        blend(oy, &block[static_cast<std::size_t>(yv0[oy] - v_first) * 3 * w],
              &block[static_cast<std::size_t>(yv1[oy] - v_first) * 3 * w]);
    }
  } else {
    RowCache<F> cache(f, rot, xu0, xu1, wx, up_w);
    for (int oy = 0; oy < p.resized_height; ++oy) {
      const float* top = cache.get(yv0[oy], 0);
      blend(oy, top, yv1[oy] == yv0[oy] ? top : cache.get(yv1[oy], 1));
    }
  }
  for (int c = 0; c < 3; ++c)
    std::fill(dst + c * plane + static_cast<std::size_t>(p.resized_height) * p.out_width, dst + (c + 1) * plane, pad[c]);
}

}  // namespace

void upright_size(const FrameView& frame, int rotation, int& height, int& width) {
  const bool quarter = rotation == 90 || rotation == 270;
  height = quarter ? frame.width : frame.height;
  width = quarter ? frame.height : frame.width;
}

void check_frame(const FrameView& f, const FrameParams& p) {
  require(f.data != nullptr, "frame: no data");
  require(f.width > 0 && f.height > 0 && f.width <= (1 << 15) && f.height <= (1 << 15),
          "frame: width and height must be in [1, 32768]");
  if (is_yuv420(f.format) || f.format == PixelFormat::YUYV)
    require(f.width % 2 == 0 && (f.format == PixelFormat::YUYV || f.height % 2 == 0),
            "frame: YUV frames need an even width (and an even height for 4:2:0)");
  require(p.rotation == 0 || p.rotation == 90 || p.rotation == 180 || p.rotation == 270,
          "rotation must be 0, 90, 180 or 270");
  require(p.out_width > 0 && p.out_height > 0 && p.out_width <= 65536 && p.out_height <= 65536 &&
              static_cast<long long>(p.out_width) * p.out_height <= (1LL << 27),
          "output size must be in [1, 65536] per side and at most 2^27 pixels");
  require(p.resized_width >= 1 && p.resized_height >= 1 && p.resized_width <= p.out_width &&
              p.resized_height <= p.out_height,
          "the resized picture must fit the output");
  for (int c = 0; c < 3; ++c)
    require(std::isfinite(p.mean[c]) && std::isfinite(p.std[c]) && p.std[c] != 0.f,
            "mean must be finite and std finite and non-zero");
}

namespace {

// Rows of the network input are written once and read by the engine much later, after it has filled the caches
// with its weights: streaming (non-temporal) stores skip reading each line into the cache before overwriting it,
// which halved the cost of a cold 640x640 pack here. SSE2 is part of every x86-64 CPU; elsewhere plain stores.
inline void store_row(float* dst, const float* src, int n) {
#if defined(__SSE2__)
  int x = 0;
  if ((reinterpret_cast<std::uintptr_t>(dst) & 15) == 0) {
    for (; x + 4 <= n; x += 4) _mm_stream_ps(dst + x, _mm_loadu_ps(src + x));
  }
  for (; x < n; ++x) dst[x] = src[x];
#else
  std::copy(src, src + n, dst);
#endif
}

inline void finish_stores() {
#if defined(__SSE2__)
  _mm_sfence();  // streaming stores are visible to other threads (the engine's) before we return
#endif
}

// `count` (a multiple of 16) interleaved 3-channel pixels -> normalised floats at [0, count) of one line per output
// channel: output channel c reads stored channel src[c] and computes v * scale[c] + shift[c]. The tables of
// the scalar tail are made by this same function (make_tables), so every pixel of a row gets bit-identical values
// whichever path computed it.
struct PackLines {
  float* line[3];
  const int* src;
  const float* scale;
  const float* shift;
};

#if defined(EDGECV_PACK_SSE41)
__attribute__((target("sse4.1"), noinline)) void convert_pixels(const std::uint8_t* pixels, const PackLines& o,
                                                                 int count) {
  // Byte k of stored channel ch sits at 3k + ch of 48 bytes a|b|c: gathered from a, b and c (-1: zero).
  const __m128i take[3][3] = {
      {_mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13)},
      {_mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14)},
      {_mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1),
       _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15)}};
  __m128 scale[3], shift[3];
  for (int k = 0; k < 3; ++k) {
    scale[k] = _mm_set1_ps(o.scale[k]);
    shift[k] = _mm_set1_ps(o.shift[k]);
  }
  for (int i = 0; i < count; i += 16) {
    const std::uint8_t* px = pixels + 3 * i;
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(px));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(px + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(px + 32));
    for (int k = 0; k < 3; ++k) {
      const __m128i* t = take[o.src[k]];
      __m128i v = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, t[0]), _mm_shuffle_epi8(b, t[1])),
                               _mm_shuffle_epi8(c, t[2]));
      float* dst = o.line[k] + i;
      for (int j = 0; j < 4; ++j, v = _mm_srli_si128(v, 4))
        _mm_storeu_ps(dst + 4 * j, _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(_mm_cvtepu8_epi32(v)), scale[k]), shift[k]));
    }
  }
}

bool have_simd() {
  static const bool yes = __builtin_cpu_supports("sse4.1");
  return yes;
}
#elif defined(EDGECV_PACK_NEON)
__attribute__((noinline)) void convert_pixels(const std::uint8_t* pixels, const PackLines& o, int count) {
  for (int i = 0; i < count; i += 16) {
    const uint8x16x3_t ch = vld3q_u8(pixels + 3 * i);  // de-interleaves the three channels
    for (int k = 0; k < 3; ++k) {
      const uint8x16_t v = ch.val[o.src[k]];
      const float32x4_t scale = vdupq_n_f32(o.scale[k]), shift = vdupq_n_f32(o.shift[k]);
      const uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_u8(vget_high_u8(v));
      const uint32x4_t q[4] = {vmovl_u16(vget_low_u16(lo)), vmovl_u16(vget_high_u16(lo)),
                               vmovl_u16(vget_low_u16(hi)), vmovl_u16(vget_high_u16(hi))};
      for (int j = 0; j < 4; ++j)
        vst1q_f32(o.line[k] + i + 4 * j, vaddq_f32(vmulq_f32(vcvtq_f32_u32(q[j]), scale), shift));
    }
  }
}

bool have_simd() { return true; }
#else
void convert_pixels(const std::uint8_t*, const PackLines&, int) {}
bool have_simd() { return false; }
#endif

// Per channel, each byte value's normalised float, computed by convert_pixels when it computes the row bodies.
void make_tables(const float* scale, const float* shift, float (&table)[3][256]) {
  if (!have_simd()) {
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) table[c][v] = static_cast<float>(v) * scale[c] + shift[c];
    return;
  }
  static const int identity[3] = {0, 1, 2};
  const PackLines o{{table[0], table[1], table[2]}, identity, scale, shift};
  std::uint8_t px[3 * 256];
  for (int k = 0; k < 3 * 256; ++k) px[k] = static_cast<std::uint8_t>(k / 3);
  convert_pixels(px, o, 256);
}

// Output rows of a 3-channel picture: each is made in `line` (one row per output channel, hot in L1) and stored with
// streaming stores; the padding right of the picture is filled in `line` once, the rows below it at the end.
class PlanarRows {
 public:
  PlanarRows(const FrameParams& p, float* dst) : p_(p), dst_(dst), plane_(static_cast<std::size_t>(p.out_height) * p.out_width) {
    for (int c = 0; c < 3; ++c) {
      scale[c] = 1.f / p.std[c];
      shift[c] = -p.mean[c] / p.std[c];
      pad_[c] = p.pad_pixel * scale[c] + shift[c];
    }
    make_tables(scale, shift, table);
    lines_.resize(3 * static_cast<std::size_t>(p.out_width));
    for (int c = 0; c < 3; ++c) {
      line[c] = lines_.data() + c * static_cast<std::size_t>(p.out_width);
      std::fill(line[c] + p.resized_width, line[c] + p.out_width, pad_[c]);
    }
    // A reused buffer that already holds this padding (same sizes and values: the caller knows) gets the picture
    // only: 31 % fewer bytes written for a 640x443 photo in 640x640, 43 % for 640x364.
    row_width_ = p.pad_written ? p.resized_width : p.out_width;
  }

  // Stores line[0..2] as output row y.
  void store(int y) {
    for (int c = 0; c < 3; ++c)
      store_row(dst_ + c * plane_ + static_cast<std::size_t>(y) * p_.out_width, line[c], row_width_);
  }

  // The padding rows below the picture (unless already there), then a fence for the streaming stores.
  void finish() {
    if (!p_.pad_written) {
      for (int c = 0; c < 3; ++c) {
        std::fill(line[c], line[c] + p_.resized_width, pad_[c]);
        for (int y = p_.resized_height; y < p_.out_height; ++y)
          store_row(dst_ + c * plane_ + static_cast<std::size_t>(y) * p_.out_width, line[c], p_.out_width);
      }
    }
    finish_stores();
  }

  float scale[3], shift[3];
  float table[3][256];  // each byte value's normalised float per output channel, as the SIMD paths compute it
  float* line[3];

 private:
  const FrameParams& p_;
  float* dst_;
  std::size_t plane_;
  float pad_[3];
  int row_width_;
  std::vector<float> lines_;
};

// Whether a 3-channel BGR/RGB picture with contiguous pixels, upright: the layout the two passes below read.
bool packed_three(const FrameView& f, const FrameParams& p) {
  return (f.format == PixelFormat::BGR || f.format == PixelFormat::RGB) && p.rotation == 0 && f.channel_stride == 1 &&
         (f.pixel_stride == 3 || f.width == 1);  // numpy may give a one-pixel-wide array any pixel stride
}

// The common case of detect() on an image already at its network size: no sampling is needed: one pass
// de-interleaves, normalises and pads, row by row. Same result as run<>() (the taps are identities).
bool copy_unscaled(const FrameView& f, const FrameParams& p, float* dst) {
  if (!packed_three(f, p) || f.width != p.resized_width || f.height != p.resized_height) return false;
  const bool swap = (f.format == PixelFormat::RGB) != p.rgb;  // stored order differs from the output order
  // One pass over each row de-interleaves the three channels into normalised floats: 16 pixels at a time with SSE4.1
  // shuffles or NEON's vld3 (0.38 ms hot for 640x443 into 640x640), the rest through a table per channel (0.48 ms
  // for whole rows, against 0.84 ms for the three strided passes before; all bit-identical). Between engine calls
  // the pass is bound by writing the input to memory (~0.5 ms there either way). One thread: splitting the rows over
  // the engine's threads measured slower here (ONNX Runtime's and MNN's workers still hold the cores after a call).
  PlanarRows rows(p, dst);
  const int w = p.resized_width;
  const int s0 = swap ? 2 : 0, s2 = swap ? 0 : 2;  // output channel c reads stored channel (swap ? 2 - c : c)
  const float* t0 = rows.table[0];
  const float* t1 = rows.table[1];
  const float* t2 = rows.table[2];
  const int src[3] = {s0, 1, s2};
  const PackLines lines16{{rows.line[0], rows.line[1], rows.line[2]}, src, rows.scale, rows.shift};
  const int simd_end = have_simd() ? w / 16 * 16 : 0;
  for (int y = 0; y < p.resized_height; ++y) {
    const std::uint8_t* row = f.data + y * f.row_stride;
    if (simd_end) convert_pixels(row, lines16, simd_end);
    for (int x = simd_end; x < w; ++x) {
      const std::uint8_t* px = row + 3 * x;
      rows.line[0][x] = t0[px[s0]];
      rows.line[1][x] = t1[px[1]];
      rows.line[2][x] = t2[px[s2]];
    }
    rows.store(y);
  }
  rows.finish();
  return true;
}

// ---- OpenCV's INTER_LINEAR resize of 8-bit pictures, bit for bit, fused with the pack ----
// Resizing with cv2.resize and then packing wrote and re-read a uint8 copy of the picture between the engine's calls
// (0.6-0.9 ms for the 640x364 crowd photo, ~3 % of a SCRFD-2.5G call). Here each source row is resampled once into
// planar 16-bit sums, and two of them are blended straight into the network input's rows. The arithmetic is
// OpenCV's (resize.cpp's HResizeLinear and VResizeLinearVec_32s8u, checked against OpenCV 5.1), so the input is the
// one the reference preprocessing gives, to the bit; tests/core/test_core_bindings.py checks that against cv2.resize.
//   horizontal: fx = float((x + 0.5) * in / out - 0.5), split into a source index and a fraction that is clamped to
//     0 outside the picture; 11-bit weights a0 = round((1 - fx) * 2048), a1 = round(fx * 2048); exact integer sums,
//     kept as sum >> 4 (fits int16).
//   vertical: the same positions, the rows clipped but the fraction not; h = (H0 * b0 >> 16) + (H1 * b1 >> 16),
//     pixel = (h + 2) >> 2.
struct LinearAxis {
  std::vector<int> i0, i1;          // source indices (i1 = i0 + 1 except at the edges)
  std::vector<std::int16_t> w0, w1;  // 11-bit weights
};

LinearAxis opencv_linear_axis(int out, int in, bool clamp_fraction) {
  LinearAxis a;
  a.i0.resize(out);
  a.i1.resize(out);
  a.w0.resize(out);
  a.w1.resize(out);
  const double scale = 1.0 / (static_cast<double>(out) / in);
  for (int o = 0; o < out; ++o) {
    float f = static_cast<float>((o + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    int s1 = s + 1;
    if (clamp_fraction) {
      if (s < 0) f = 0.f, s = 0;
      if (s >= in - 1) f = 0.f, s = in - 1;
      s1 = std::min(s + 1, in - 1);
    } else {
      s = std::clamp(s, 0, in - 1);
      s1 = std::clamp(s1, 0, in - 1);
    }
    a.i0[o] = s;
    a.i1[o] = s1;
    a.w0[o] = static_cast<std::int16_t>(std::lrint((1.f - f) * 2048.f));  // round half to even, as cvRound
    a.w1[o] = static_cast<std::int16_t>(std::lrint(f * 2048.f));
  }
  return a;
}

// Source row -> three planes of horizontal sums >> 4, one per output.
void hresize_scalar(const std::uint8_t* row, const LinearAxis& ax, std::int16_t* const planes[3]) {
  for (std::size_t x = 0; x < ax.i0.size(); ++x) {
    const std::uint8_t* a = row + 3 * ax.i0[x];
    const std::uint8_t* b = row + 3 * ax.i1[x];
    for (int c = 0; c < 3; ++c) planes[c][x] = static_cast<std::int16_t>((a[c] * ax.w0[x] + b[c] * ax.w1[x]) >> 4);
  }
}

// Two rows of sums -> pixel values -> normalised floats through the table, outputs [begin, end).
void vblend_scalar(const std::int16_t* top, const std::int16_t* bottom, int b0, int b1, int begin, int end,
                   const float* table, float* line) {
  for (int x = begin; x < end; ++x) {
    const int h = ((top[x] * b0) >> 16) + ((bottom[x] * b1) >> 16);
    line[x] = table[std::clamp((h + 2) >> 2, 0, 255)];
  }
}

#if defined(EDGECV_RESIZE_AVX512)
// AVX-512 (BW + VBMI: Ice Lake, Sapphire Rapids, Zen 4 and later). The horizontal pass works on groups of up to 16
// consecutive outputs whose source pixels lie in 128 bytes of the row: one byte permutation per channel puts each
// output's two source bytes, widened to int16, beside its two weights, and one multiply-add gives the 16 sums of
// that channel, already planar. Without VBMI the byte shuffles cost more than OpenCV's resize saves here (an SSE4.1
// version measured 1.5 ms hot for the group photo, against 0.9 ms for cv2.resize then the pack), so those CPUs
// keep cv2.resize: fast_linear_resize() says which.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's AVX-512 headers pass _mm512_undefined_* through
#endif
struct HGroup {
  int offset;               // first byte of the row the group reads
  int first, count;         // outputs [first, first + count), count <= 16; 16 are written
  std::uint64_t mask[2];    // bytes of the two 64-byte loads that lie in the row (masked loads never fault)
};

struct HTables {
  std::vector<HGroup> groups;
  std::vector<std::uint8_t> index;   // per group, 3 x 64: for output lane j, bytes 4j and 4j + 2 = its taps' offsets
  std::vector<std::int16_t> weight;  // per group, 32: (w0, w1) per lane
};

HTables make_groups(const LinearAxis& ax) {
  HTables t;
  const int w = static_cast<int>(ax.i0.size());
  for (int x = 0; x < w;) {
    const int offset = 3 * ax.i0[x];
    int n = 1;
    while (n < 16 && x + n < w && 3 * ax.i1[x + n] + 3 - offset <= 128) ++n;
    const int length = 3 * ax.i1[x + n - 1] + 3 - offset;
    HGroup g{offset, x, n, {0, 0}};
    for (int half = 0; half < 2; ++half) {
      const int bytes = std::clamp(length - 64 * half, 0, 64);
      g.mask[half] = bytes == 64 ? ~0ULL : ((1ULL << bytes) - 1);
    }
    t.groups.push_back(g);
    const std::size_t at = t.index.size();
    t.index.resize(at + 3 * 64, 0);
    t.weight.resize(t.weight.size() + 32, 0);
    std::int16_t* wt = &t.weight[t.weight.size() - 32];
    for (int j = 0; j < n; ++j) {
      for (int c = 0; c < 3; ++c) {
        t.index[at + 64 * c + 4 * j] = static_cast<std::uint8_t>(3 * ax.i0[x + j] - offset + c);
        t.index[at + 64 * c + 4 * j + 2] = static_cast<std::uint8_t>(3 * ax.i1[x + j] - offset + c);
      }
      wt[2 * j] = ax.w0[x + j];
      wt[2 * j + 1] = ax.w1[x + j];
    }
    x += n;
  }
  return t;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"), noinline)) void hresize_vbmi(const std::uint8_t* row,
                                                                                    const HTables& t,
                                                                                    std::int16_t* const planes[3]) {
  const __mmask64 even = 0x5555555555555555ULL;  // the low byte of each int16: the high byte stays zero
  const std::uint8_t* index = t.index.data();
  const std::int16_t* weight = t.weight.data();
  for (const HGroup& g : t.groups) {
    const std::uint8_t* src = row + g.offset;
    const __m512i lo = _mm512_maskz_loadu_epi8(g.mask[0], src);
    const __m512i hi = _mm512_maskz_loadu_epi8(g.mask[1], src + 64);
    const __m512i w = _mm512_loadu_si512(weight);
    for (int c = 0; c < 3; ++c) {  // all 16 lanes stored: the next group overwrites those past `count`
      const __m512i taps = _mm512_maskz_permutex2var_epi8(even, lo, _mm512_loadu_si512(index + 64 * c), hi);
      const __m512i sums = _mm512_srai_epi32(_mm512_madd_epi16(taps, w), 4);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(planes[c] + g.first), _mm512_cvtepi32_epi16(sums));
    }
    index += 3 * 64;
    weight += 32;
  }
}

// 32 outputs at a time, `count` a multiple of 32: OpenCV's mulhi blend, then the pixel value through an int -> float
// conversion, a multiply and an add, as convert_pixels (so the same float as the tables give). The explicit-rounding
// forms keep the compiler from fusing them into an FMA, which rounds once and differs in the last bit.
__attribute__((target("avx512f,avx512bw"), noinline)) void vblend_avx512(const std::int16_t* top,
                                                                          const std::int16_t* bottom, int b0, int b1,
                                                                          int count, float scale, float shift,
                                                                          float* line) {
  const __m512i w0 = _mm512_set1_epi16(static_cast<short>(b0)), w1 = _mm512_set1_epi16(static_cast<short>(b1));
  const __m512i two = _mm512_set1_epi16(2), zero = _mm512_setzero_si512(), top255 = _mm512_set1_epi16(255);
  const __m512 sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift);
  for (int x = 0; x < count; x += 32) {
    const __m512i t = _mm512_loadu_si512(top + x), d = _mm512_loadu_si512(bottom + x);
    __m512i h = _mm512_adds_epi16(_mm512_mulhi_epi16(t, w0), _mm512_mulhi_epi16(d, w1));
    h = _mm512_min_epi16(_mm512_max_epi16(_mm512_srai_epi16(_mm512_adds_epi16(h, two), 2), zero), top255);
    const __m512i lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(h));
    const __m512i hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1));
    constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    _mm512_storeu_ps(line + x, _mm512_add_round_ps(_mm512_mul_round_ps(_mm512_cvtepi32_ps(lo), sc, kNearest), sh, kNearest));
    _mm512_storeu_ps(line + x + 16,
                     _mm512_add_round_ps(_mm512_mul_round_ps(_mm512_cvtepi32_ps(hi), sc, kNearest), sh, kNearest));
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

bool have_vbmi() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vbmi");
  return yes;
}
#else
bool have_vbmi() { return false; }
#endif

bool resize_linear_8u(const FrameView& f, const FrameParams& p, float* dst) {
  if (!packed_three(f, p)) return false;
  const bool simd = fast_linear_resize();
  const int w = p.resized_width, h = p.resized_height;
  const LinearAxis ax = opencv_linear_axis(w, f.width, true);
  const LinearAxis ay = opencv_linear_axis(h, f.height, false);
#if defined(EDGECV_RESIZE_AVX512)
  const HTables groups = simd ? make_groups(ax) : HTables{};
#endif
  const int v_simd = simd ? w / 32 * 32 : 0;
  // Two rows of sums, keyed by source row: upscaling reuses one of them for the next output rows.
  const std::size_t stride = (static_cast<std::size_t>(w) + 31) / 32 * 32 + 16;  // per plane, room for a last group
  std::vector<std::int16_t> sums(2 * 3 * stride);
  std::array<std::int16_t*, 3> slot[2];
  for (int k = 0; k < 2; ++k)
    for (int c = 0; c < 3; ++c) slot[k][c] = sums.data() + (3 * k + c) * stride;
  int cached[2] = {-1, -1};
  auto fill = [&](int k, int v) {
    const std::uint8_t* row = f.data + v * f.row_stride;
#if defined(EDGECV_RESIZE_AVX512)
    if (simd)
      hresize_vbmi(row, groups, slot[k].data());
    else
#endif
      hresize_scalar(row, ax, slot[k].data());
    cached[k] = v;
  };
  PlanarRows rows(p, dst);
  const bool swap = (f.format == PixelFormat::RGB) != p.rgb;
  for (int y = 0; y < h; ++y) {
    const int u = ay.i0[y], v = ay.i1[y];  // slot 0 gets row u, slot 1 row v (unless u == v)
    if (cached[0] != u && cached[1] == u) {
      std::swap(slot[0], slot[1]);
      std::swap(cached[0], cached[1]);
    }
    if (cached[0] != u) fill(0, u);
    if (u != v && cached[1] != v) fill(1, v);
    const auto& top = slot[0];
    const auto& bottom = u == v ? slot[0] : slot[1];
    for (int c = 0; c < 3; ++c) {
      const int s = swap ? 2 - c : c;  // stored channel of output channel c
#if defined(EDGECV_RESIZE_AVX512)
      if (v_simd) vblend_avx512(top[s], bottom[s], ay.w0[y], ay.w1[y], v_simd, rows.scale[c], rows.shift[c], rows.line[c]);
#endif
      vblend_scalar(top[s], bottom[s], ay.w0[y], ay.w1[y], v_simd, w, rows.table[c], rows.line[c]);
    }
    rows.store(y);
  }
  rows.finish();
  return true;
}

}  // namespace

bool fast_linear_resize() { return have_vbmi(); }

void prepare_frame(const FrameView& f, const FrameParams& p, float* dst) {
  check_frame(f, p);
  require(dst != nullptr, "prepare_frame: null output");
  if (copy_unscaled(f, p, dst) || resize_linear_8u(f, p, dst)) return;
  switch (f.format) {
    case PixelFormat::BGR: return run<PixelFormat::BGR>(f, p, dst);
    case PixelFormat::RGB: return run<PixelFormat::RGB>(f, p, dst);
    case PixelFormat::BGRA: return run<PixelFormat::BGRA>(f, p, dst);
    case PixelFormat::RGBA: return run<PixelFormat::RGBA>(f, p, dst);
    case PixelFormat::GRAY: return run<PixelFormat::GRAY>(f, p, dst);
    case PixelFormat::NV21: return run<PixelFormat::NV21>(f, p, dst);
    case PixelFormat::NV12: return run<PixelFormat::NV12>(f, p, dst);
    case PixelFormat::I420: return run<PixelFormat::I420>(f, p, dst);
    case PixelFormat::YUYV: return run<PixelFormat::YUYV>(f, p, dst);
  }
  throw InvalidInput("unknown pixel format");
}

}  // namespace edgecv
