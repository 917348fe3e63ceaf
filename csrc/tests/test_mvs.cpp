#include <cmath>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/mvs.hpp"

using namespace edgecv;

namespace {

// Cameras looking down +z at the plane z = 5, centres at (cx, 0, 0); f = 100, 64 x 48 maps.
DepthView camera_at(double centre_x, const std::vector<float>& depth) {
  DepthView v;
  v.depth = depth.data();
  v.width = 64;
  v.height = 48;
  v.K = {100, 0, 32, 0, 100, 24, 0, 0, 1};
  v.E = {1, 0, 0, -centre_x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  return v;
}

}  // namespace

TEST_CASE("consistency: a plane seen from two cameras agrees where both see it") {
  const std::vector<float> plane(64 * 48, 5.f);
  std::vector<float> src_depth = plane;
  const DepthView ref = camera_at(0.0, plane), src = camera_at(0.2, src_depth);  // 4 px disparity
  ConsistencyParams p;
  p.min_views = 1;
  const auto r = check_consistency(ref, {src}, nullptr, p);
  CHECK(r.mask[static_cast<std::size_t>(24 * 64 + 10)] == 1);
  CHECK(r.counts[static_cast<std::size_t>(24 * 64 + 10)] == 1);
  CHECK_NEAR(r.fused_depth[static_cast<std::size_t>(24 * 64 + 10)], 5.0, 1e-4);
  // The source camera is 0.2 to the right: its image is shifted 4 px left, so the ref's first
  // 4 columns fall outside it.
  CHECK(r.mask[static_cast<std::size_t>(24 * 64 + 1)] == 0);
  int kept = 0;
  for (auto m : r.mask) kept += m;
  CHECK(kept == 48 * (64 - 4));  // columns 4..63
}

TEST_CASE("consistency: wrong depth, low confidence and min_views reject pixels") {
  const std::vector<float> plane(64 * 48, 5.f);
  std::vector<float> ref_depth = plane;
  for (int x = 30; x < 40; ++x) ref_depth[static_cast<std::size_t>(10 * 64 + x)] = 5.5f;  // 10 % off
  const DepthView ref = camera_at(0.0, ref_depth), s1 = camera_at(0.2, plane), s2 = camera_at(-0.2, plane);
  std::vector<float> conf(64 * 48, 0.9f);
  conf[static_cast<std::size_t>(30 * 64 + 30)] = 0.1f;
  ConsistencyParams p;
  p.min_views = 2;
  p.min_confidence = 0.5f;
  const auto r = check_consistency(ref, {s1, s2}, conf.data(), p);
  CHECK(r.mask[static_cast<std::size_t>(10 * 64 + 35)] == 0);
  CHECK(r.counts[static_cast<std::size_t>(10 * 64 + 35)] == 0);
  CHECK(r.mask[static_cast<std::size_t>(30 * 64 + 30)] == 0);  // not confident
  CHECK(r.mask[static_cast<std::size_t>(30 * 64 + 31)] == 1);
  CHECK(r.counts[static_cast<std::size_t>(20 * 64 + 2)] == 1);  // only s2 sees the left border
  CHECK(r.mask[static_cast<std::size_t>(20 * 64 + 2)] == 0);
}

TEST_CASE("backprojection puts pixels on the plane with their colours") {
  const std::vector<float> plane(64 * 48, 5.f);
  std::vector<std::uint8_t> image(64 * 48 * 3);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<std::uint8_t>(i % 251);
  std::vector<std::uint8_t> mask(64 * 48, 0);
  mask[static_cast<std::size_t>(24 * 64 + 32)] = 1;
  mask[static_cast<std::size_t>(0 * 64 + 0)] = 1;
  std::vector<float> xyz;
  std::vector<std::uint8_t> rgb;
  backproject(camera_at(0.5, plane), mask.data(), image.data(), xyz, rgb);
  CHECK(xyz.size() == 6 && rgb.size() == 6);
  CHECK_NEAR(xyz[0], 0.5 + (0 - 32) * 5 / 100.0, 1e-5);  // world x = centre + (u - cx) z / f
  CHECK_NEAR(xyz[2], 5.0, 1e-5);
  CHECK_NEAR(xyz[3], 0.5, 1e-5);
  CHECK(rgb[3] == image[(24 * 64 + 32) * 3]);
}

TEST_CASE("mvs inputs are validated") {
  const std::vector<float> plane(64 * 48, 5.f);
  DepthView ref = camera_at(0.0, plane), src = camera_at(0.2, plane);
  ConsistencyParams p;
  CHECK_THROWS(check_consistency(ref, {}, nullptr, p), InvalidInput);
  p.min_views = 2;
  CHECK_THROWS(check_consistency(ref, {src}, nullptr, p), InvalidInput);
  p.min_views = 1;
  DepthView bad = src;
  bad.K[0] = -1;
  CHECK_THROWS(check_consistency(ref, {bad}, nullptr, p), InvalidInput);
  bad = src;
  bad.E[0] = 2;  // not a rotation
  CHECK_THROWS(check_consistency(ref, {bad}, nullptr, p), InvalidInput);
  bad = src;
  bad.height = 0;
  CHECK_THROWS(check_consistency(ref, {bad}, nullptr, p), InvalidInput);
  p.max_relative_depth = 0;
  CHECK_THROWS(check_consistency(ref, {src}, nullptr, p), InvalidInput);
}
