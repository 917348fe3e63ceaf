#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/pnp.hpp"

using namespace edgecv;
using linalg::Vec3;

namespace {

std::vector<double> project_all(const PinholeCamera& cam, const std::vector<double>& obj, const Vec3& rvec,
                                const Vec3& tvec) {
  const auto r = linalg::rotation_from_vector(rvec);
  std::vector<double> img;
  for (std::size_t i = 0; i < obj.size() / 3; ++i) {
    const Vec3 p = linalg::apply(r, {obj[3 * i], obj[3 * i + 1], obj[3 * i + 2]});
    const auto uv = project(cam, {p[0] + tvec[0], p[1] + tvec[1], p[2] + tvec[2]});
    img.push_back(uv[0]);
    img.push_back(uv[1]);
  }
  return img;
}

double rotation_gap(const Vec3& a, const Vec3& b) {
  const auto ra = linalg::rotation_from_vector(a), rb = linalg::rotation_from_vector(b);
  const auto d = linalg::multiply(ra, linalg::transpose(rb));
  return std::fabs(linalg::vector_from_rotation(d)[0]) + std::fabs(linalg::vector_from_rotation(d)[1]) +
         std::fabs(linalg::vector_from_rotation(d)[2]);
}

PinholeCamera camera() {
  PinholeCamera c;
  c.fx = 800; c.fy = 810; c.cx = 320; c.cy = 240;
  return c;
}

const std::vector<double> kCube = {-1, -1, -1, 1, -1, -1, 1, 1, -1, -1, 1, -1, -1, -1, 1, 1, -1, 1, 0.3, 0.2, 0.7};
const std::vector<double> kPlane = {-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0, 0.2, -0.4, 0, -0.6, 0.5, 0};

}  // namespace

TEST_CASE("rodrigues round trip including angles near pi") {
  for (const Vec3& r : {Vec3{0.1, -0.2, 0.3}, Vec3{0, 0, 3.14}, Vec3{2.0, 1.0, -1.5}, Vec3{0, 0, 0}}) {
    const Vec3 back = linalg::vector_from_rotation(linalg::rotation_from_vector(r));
    CHECK(rotation_gap(r, back) < 1e-9);
    CHECK_NEAR(linalg::determinant(linalg::rotation_from_vector(r)), 1.0, 1e-12);
  }
}

TEST_CASE("pnp recovers non-planar and planar poses exactly") {
  const PinholeCamera cam = camera();
  for (const auto* obj : {&kCube, &kPlane}) {
    for (const Vec3& rvec : {Vec3{0.1, -0.3, 0.2}, Vec3{-0.6, 0.4, 0.1}, Vec3{0.0, 1.2, 0.0}}) {
      const Vec3 tvec{0.2, -0.1, 8};
      const auto img = project_all(cam, *obj, rvec, tvec);
      const auto res = solve_pnp(obj->data(), img.data(), obj->size() / 3, cam);
      CHECK(rotation_gap(res.rvec, rvec) < 1e-7);
      CHECK_NEAR(res.tvec[2], 8.0, 1e-6);
      CHECK(res.rms < 1e-6);
    }
  }
}

TEST_CASE("pnp with distortion and with an initial guess") {
  PinholeCamera cam = camera();
  cam.num_distortion = 5;
  cam.distortion = {-0.2, 0.05, 0.001, -0.002, 0.01};
  const Vec3 rvec{0.3, -0.2, 0.1}, tvec{-0.3, 0.2, 6};
  const auto img = project_all(cam, kCube, rvec, tvec);
  const auto res = solve_pnp(kCube.data(), img.data(), kCube.size() / 3, cam);
  CHECK(rotation_gap(res.rvec, rvec) < 1e-7);
  CHECK(res.rms < 1e-6);
  PnpOptions guess;
  guess.use_guess = true;
  guess.rvec_guess = {0.25, -0.1, 0.0};
  guess.tvec_guess = {0, 0, 5};
  CHECK(rotation_gap(solve_pnp(kCube.data(), img.data(), kCube.size() / 3, cam, guess).rvec, rvec) < 1e-7);
}

TEST_CASE("pnp refuses degenerate input") {
  const PinholeCamera cam = camera();
  const auto img = project_all(cam, kCube, {0.1, 0.1, 0.1}, {0, 0, 8});
  CHECK_THROWS(solve_pnp(kCube.data(), img.data(), 3, cam), InvalidInput);
  const std::vector<double> line = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
  CHECK_THROWS(solve_pnp(line.data(), img.data(), 5, cam), InvalidInput);
  std::vector<double> nan_img = img;
  nan_img[3] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS(solve_pnp(kCube.data(), nan_img.data(), kCube.size() / 3, cam), InvalidInput);
  PinholeCamera bad = cam;
  bad.fx = 0;
  CHECK_THROWS(solve_pnp(kCube.data(), img.data(), kCube.size() / 3, bad), InvalidInput);
  bad = cam;
  bad.num_distortion = 3;
  CHECK_THROWS(solve_pnp(kCube.data(), img.data(), kCube.size() / 3, bad), InvalidInput);
  const std::vector<double> same(kCube.size() / 3 * 2, 5.0);
  CHECK_THROWS(solve_pnp(kCube.data(), same.data(), kCube.size() / 3, cam), InvalidInput);
}
