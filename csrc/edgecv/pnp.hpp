// Perspective-n-point: EPnP initialisation + Levenberg-Marquardt refinement of the reprojection error.
#pragma once

#include <array>
#include <cstddef>

#include "edgecv/linalg.hpp"

namespace edgecv {

struct PinholeCamera {
  double fx = 1, fy = 1, cx = 0, cy = 0, skew = 0;
  // OpenCV order k1, k2, p1, p2, k3; `num_distortion` is 0, 4 or 5.
  std::array<double, 5> distortion{};
  int num_distortion = 0;
};

struct PnpOptions {
  int max_iterations = 50;
  bool use_guess = false;  // start the refinement from rvec_guess / tvec_guess instead of EPnP
  linalg::Vec3 rvec_guess{};
  linalg::Vec3 tvec_guess{};
};

struct PnpResult {
  linalg::Vec3 rvec{};   // rotation vector (object -> camera)
  linalg::Mat3 rotation{};
  linalg::Vec3 tvec{};
  double rms = 0;        // RMS reprojection error in pixels
  int iterations = 0;
};

// Checks n >= 4, finite values, positive focal lengths, non-collinear object points, image points
// that are not all the same, distortion count. Throws InvalidInput.
void check_pnp_inputs(const double* object_points, const double* image_points, std::size_t n,
                      const PinholeCamera& camera);

// object_points: n x 3, image_points: n x 2 (pixels). Planar and non-planar point sets.
PnpResult solve_pnp(const double* object_points, const double* image_points, std::size_t n,
                    const PinholeCamera& camera, const PnpOptions& options = PnpOptions());

// Pixel projection of a camera-frame point (with distortion).
std::array<double, 2> project(const PinholeCamera& camera, const linalg::Vec3& point);

}  // namespace edgecv
