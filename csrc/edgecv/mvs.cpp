#include "edgecv/mvs.hpp"

#include <cmath>
#include <string>

#include "edgecv/error.hpp"
#include "edgecv/linalg.hpp"
#include "edgecv/parallel.hpp"

namespace edgecv {

namespace {

using linalg::Mat3;
using linalg::Vec3;

struct Rigid {
  Mat3 r;
  Vec3 t;
};

Rigid rigid(const std::array<double, 16>& e) {
  return {{e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]}, {e[3], e[7], e[11]}};
}

Mat3 k_matrix(const std::array<double, 9>& k) { return {k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]}; }

// Inverse of an upper-triangular intrinsics matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]].
Mat3 k_inverse(const Mat3& k) {
  const double fx = k[0], s = k[1], cx = k[2], fy = k[4], cy = k[5];
  return {1 / fx, -s / (fx * fy), (s * cy - cx * fy) / (fx * fy), 0, 1 / fy, -cy / fy, 0, 0, 1};
}

// Maps pixel (x, y) with depth d of view `from` to the camera frame of view `to`:
// X_to = d * A [x, y, 1] + b, with A = R_to R_from^T K_from^-1 and b = t_to - R_to R_from^T t_from.
struct Transfer {
  Mat3 a;
  Vec3 b;
};

Transfer transfer(const DepthView& from, const DepthView& to) {
  const Rigid f = rigid(from.E), t = rigid(to.E);
  const Mat3 rel = linalg::multiply(t.r, linalg::transpose(f.r));
  const Vec3 rt = linalg::apply(rel, f.t);
  return {linalg::multiply(rel, k_inverse(k_matrix(from.K))), {t.t[0] - rt[0], t.t[1] - rt[1], t.t[2] - rt[2]}};
}

inline Vec3 apply_transfer(const Transfer& tr, double x, double y, double d) {
  return {d * (tr.a[0] * x + tr.a[1] * y + tr.a[2]) + tr.b[0], d * (tr.a[3] * x + tr.a[4] * y + tr.a[5]) + tr.b[1],
          d * (tr.a[6] * x + tr.a[7] * y + tr.a[8]) + tr.b[2]};
}

// Bilinear depth sample; 0 when outside the map or when any of the four neighbours is invalid.
float sample_depth(const DepthView& v, double x, double y) {
  if (!(x >= 0.0 && y >= 0.0 && x <= v.width - 1.0 && y <= v.height - 1.0)) return 0.f;
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const int x1 = x0 + 1 < v.width ? x0 + 1 : x0, y1 = y0 + 1 < v.height ? y0 + 1 : y0;
  const float* d = v.depth;
  const float a = d[static_cast<std::size_t>(y0) * v.width + x0], b = d[static_cast<std::size_t>(y0) * v.width + x1];
  const float c = d[static_cast<std::size_t>(y1) * v.width + x0], e = d[static_cast<std::size_t>(y1) * v.width + x1];
  if (!(a > 0.f && b > 0.f && c > 0.f && e > 0.f)) return 0.f;
  const double fx = x - x0, fy = y - y0;
  return static_cast<float>((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + e * fx) * fy);
}

}  // namespace

void check_depth_view(const DepthView& v, const char* name) {
  const std::string who(name);
  require(v.depth != nullptr && v.height > 0 && v.width > 0, who + ": depth map must be a non-empty (H, W) array");
  for (double k : v.K) require(std::isfinite(k), who + ": K must be finite");
  for (double e : v.E) require(std::isfinite(e), who + ": extrinsic must be finite");
  require(v.K[0] > 0 && v.K[4] > 0 && v.K[3] == 0 && v.K[6] == 0 && v.K[7] == 0 && v.K[8] == 1,
          who + ": K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with positive focal lengths");
  require(v.E[12] == 0 && v.E[13] == 0 && v.E[14] == 0 && v.E[15] == 1, who + ": extrinsic's last row must be 0 0 0 1");
  const Mat3 r = rigid(v.E).r;
  require(std::fabs(linalg::determinant(r) - 1.0) < 1e-3, who + ": extrinsic rotation must be a rotation (det 1)");
}

ConsistencyResult check_consistency(const DepthView& ref, const std::vector<DepthView>& sources,
                                    const float* confidence, const ConsistencyParams& p) {
  check_depth_view(ref, "reference");
  require(!sources.empty(), "at least one source depth map is required");
  for (std::size_t s = 0; s < sources.size(); ++s) check_depth_view(sources[s], ("source " + std::to_string(s)).c_str());
  require(std::isfinite(p.max_reprojection_px) && p.max_reprojection_px > 0, "max_reprojection_px must be > 0");
  require(std::isfinite(p.max_relative_depth) && p.max_relative_depth > 0, "max_relative_depth must be > 0");
  require(p.min_views >= 1 && p.min_views <= static_cast<int>(sources.size()),
          "min_views must be in [1, number of sources]");
  require(std::isfinite(p.min_confidence), "min_confidence must be finite");

  // Intrinsics folded in: homogeneous source pixel = d * (K_s A) [x, y, 1] + K_s b, and the same
  // backwards. K's last row is (0, 0, 1), so the third coordinate stays the camera depth.
  std::vector<Transfer> forward, backward;
  for (const DepthView& s : sources) {
    const Transfer f = transfer(ref, s), b = transfer(s, ref);
    const Mat3 ks = k_matrix(s.K), kr = k_matrix(ref.K);
    forward.push_back({linalg::multiply(ks, f.a), linalg::apply(ks, f.b)});
    backward.push_back({linalg::multiply(kr, b.a), linalg::apply(kr, b.b)});
  }
  const std::size_t n = static_cast<std::size_t>(ref.height) * ref.width;
  ConsistencyResult out;
  out.mask.assign(n, 0);
  out.counts.assign(n, 0);
  out.fused_depth.assign(n, 0.f);
  const double max_px2 = static_cast<double>(p.max_reprojection_px) * p.max_reprojection_px;
  parallel_for(static_cast<std::size_t>(ref.height), p.threads, [&](std::size_t row_begin, std::size_t row_end) {
    for (std::size_t yy = row_begin; yy < row_end; ++yy) {
      const int y = static_cast<int>(yy);
      for (int x = 0; x < ref.width; ++x) {
        const std::size_t i = yy * ref.width + x;
        const float d = ref.depth[i];
        if (!(d > 0.f) || !std::isfinite(d)) continue;
        double sum = d;
        int count = 0;
        for (std::size_t s = 0; s < sources.size(); ++s) {
          const Vec3 us = apply_transfer(forward[s], x, y, d);
          if (!(us[2] > 0)) continue;
          const double u = us[0] / us[2], v = us[1] / us[2];
          const float ds = sample_depth(sources[s], u, v);
          if (!(ds > 0.f)) continue;
          const Vec3 ur = apply_transfer(backward[s], u, v, ds);
          if (!(ur[2] > 0)) continue;
          const double rx = ur[0] / ur[2] - x, ry = ur[1] / ur[2] - y;
          if (rx * rx + ry * ry < max_px2 && std::fabs(ur[2] - d) / d < p.max_relative_depth) {
            ++count;
            sum += ur[2];
          }
        }
        out.counts[i] = count;
        out.fused_depth[i] = static_cast<float>(sum / (count + 1));
        const bool confident = confidence == nullptr || confidence[i] >= p.min_confidence;
        out.mask[i] = (count >= p.min_views && confident) ? 1 : 0;
      }
    }
  });
  return out;
}

void backproject(const DepthView& v, const std::uint8_t* mask, const std::uint8_t* image, std::vector<float>& xyz,
                 std::vector<std::uint8_t>& colours) {
  check_depth_view(v, "depth map");
  const Rigid e = rigid(v.E);
  const Mat3 kinv = k_inverse(k_matrix(v.K));
  const Mat3 rt = linalg::transpose(e.r);
  xyz.clear();
  colours.clear();
  for (int y = 0; y < v.height; ++y) {
    for (int x = 0; x < v.width; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * v.width + x;
      const float d = v.depth[i];
      if ((mask != nullptr && mask[i] == 0) || !(d > 0.f) || !std::isfinite(d)) continue;
      const Vec3 ray = linalg::apply(kinv, {static_cast<double>(x), static_cast<double>(y), 1.0});
      const Vec3 pc{ray[0] * d - e.t[0], ray[1] * d - e.t[1], ray[2] * d - e.t[2]};
      const Vec3 pw = linalg::apply(rt, pc);
      xyz.insert(xyz.end(), {static_cast<float>(pw[0]), static_cast<float>(pw[1]), static_cast<float>(pw[2])});
      if (image != nullptr) colours.insert(colours.end(), image + 3 * i, image + 3 * i + 3);
    }
  }
}

}  // namespace edgecv
