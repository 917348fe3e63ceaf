#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/pose.hpp"

using namespace edgecv;

namespace {

struct Maps {
  int parts, limbs, h, w;
  std::vector<float> hm, paf;
  Maps(int parts_, int limbs_, int h_, int w_)
      : parts(parts_), limbs(limbs_), h(h_), w(w_),
        hm(static_cast<std::size_t>(parts_ * h_ * w_), 0.f), paf(static_cast<std::size_t>(2 * limbs_ * h_ * w_), 0.f) {}
  MapView heatmaps() const { return {hm.data(), parts, h, w}; }
  MapView pafs() const { return {paf.data(), 2 * limbs, h, w}; }
  void blob(int part, float cx, float cy, float peak = 1.f, float sigma = 1.5f) {
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const float d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        float& v = hm[(static_cast<std::size_t>(part) * h + y) * w + x];
        v = std::max(v, peak * std::exp(-d2 / (2 * sigma * sigma)));
      }
  }
  // Unit vectors along the segment a->b, within `width` pixels of it.
  void limb(int l, float ax, float ay, float bx, float by, float width = 1.5f) {
    const float dx = bx - ax, dy = by - ay, len = std::sqrt(dx * dx + dy * dy);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const float t = ((x - ax) * dx + (y - ay) * dy) / (len * len);
        const float dist = std::fabs((x - ax) * dy - (y - ay) * dx) / len;
        if (t < -0.05f || t > 1.05f || dist > width) continue;
        paf[(static_cast<std::size_t>(2 * l) * h + y) * w + x] = dx / len;
        paf[(static_cast<std::size_t>(2 * l + 1) * h + y) * w + x] = dy / len;
      }
  }
};

}  // namespace

TEST_CASE("peaks: local maxima above threshold, sub-pixel and plateaus") {
  Maps m(2, 1, 20, 30);
  m.blob(0, 5.f, 5.f);
  m.blob(0, 20.3f, 12.f, 0.8f);
  m.blob(1, 10.f, 10.f, 0.05f);  // below threshold
  // A flat plateau of equal values gives one peak.
  for (int x = 25; x < 28; ++x) m.hm[(static_cast<std::size_t>(1) * 20 + 3) * 30 + x] = 0.5f;
  PoseParams p;
  const auto peaks = find_peaks(m.heatmaps(), p);
  CHECK(peaks.size() == 3);
  CHECK(peaks[0].part == 0 && std::fabs(peaks[0].x - 5.f) < 1e-3f && std::fabs(peaks[0].y - 5.f) < 1e-3f);
  CHECK(peaks[1].part == 0 && std::fabs(peaks[1].x - 20.3f) < 0.1f);  // sub-pixel
  CHECK(peaks[2].part == 1 && peaks[2].x >= 25.f && peaks[2].x <= 26.f);  // one peak, pulled into the plateau
  p.subpixel = false;
  CHECK(find_peaks(m.heatmaps(), p)[1].x == 20.f);
  p.peak_threshold = 0.9f;
  CHECK(find_peaks(m.heatmaps(), p).size() == 1);
}

TEST_CASE("limb matching follows the PAF and is one-to-one") {
  Maps m(2, 1, 40, 40);
  // Two people: A0 -> B0 vertical at x=10, A1 -> B1 vertical at x=30.
  m.blob(0, 10, 5); m.blob(1, 10, 20); m.blob(0, 30, 5); m.blob(1, 30, 20);
  m.limb(0, 10, 5, 10, 20);
  m.limb(0, 30, 5, 30, 20);
  PoseParams p;
  const auto peaks = find_peaks(m.heatmaps(), p);
  CHECK(peaks.size() == 4);
  const auto conns = connect_limb(peaks, m.pafs(), Limb{0, 1, 0, 1, true}, m.h, p);
  CHECK(conns.size() == 2);
  for (const auto& c : conns) CHECK(std::fabs(peaks[c.peak_a].x - peaks[c.peak_b].x) < 1e-3f);
  // Reversed PAF direction: no connection.
  const auto reversed = connect_limb(peaks, m.pafs(), Limb{1, 0, 0, 1, true}, m.h, p);
  CHECK(reversed.empty());
}

TEST_CASE("grouping builds people, merges fragments and drops small ones") {
  // Parts 0-1-2 chain: limbs (0,1) and (1,2).
  Maps m(3, 2, 40, 60);
  for (float x : {10.f, 40.f}) {
    m.blob(0, x, 5); m.blob(1, x, 15); m.blob(2, x, 25);
    m.limb(0, x, 5, x, 15);
    m.limb(1, x, 15, x, 25);
  }
  m.blob(2, 55, 35);  // isolated false peak: belongs to nobody
  PoseParams p;
  p.min_parts = 3;  // the default (5) is for 18-part skeletons
  std::vector<Peak> peaks;
  const auto people = group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 1, true}, {1, 2, 2, 3, true}}, p, &peaks);
  CHECK(people.size() == 2);
  for (const auto& person : people) {
    CHECK(person.parts == 3);
    CHECK(std::fabs(peaks[person.peaks[0]].x - peaks[person.peaks[2]].x) < 1e-3f);
  }
  p.min_parts = 4;
  CHECK(group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 1, true}, {1, 2, 2, 3, true}}, p).empty());
  // Non-seed limbs never start a person.
  p.min_parts = 1;
  CHECK(group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 1, false}}, p).empty());
}

TEST_CASE("pose inputs are validated") {
  Maps m(3, 2, 10, 10);
  PoseParams p;
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {{0, 3, 0, 1, true}}, p), InvalidInput);
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 4, true}}, p), InvalidInput);
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {{1, 1, 0, 1, true}}, p), InvalidInput);
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {}, p), InvalidInput);
  m.hm[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 1, true}}, p), InvalidInput);
  m.hm[7] = 0.f;
  m.paf[3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS(group_people(m.heatmaps(), m.pafs(), {{0, 1, 0, 1, true}}, p), InvalidInput);
  m.paf[3] = 0.f;
  const MapView small_paf{m.paf.data(), 4, 5, 5};
  CHECK_THROWS(group_people(m.heatmaps(), small_paf, {{0, 1, 0, 1, true}}, p), InvalidInput);
  p.paf_scale = 0.5f;  // 5x5 PAF for a 10x10 heatmap upsampled by 2 is fine
  CHECK(group_people(m.heatmaps(), small_paf, {{0, 1, 0, 1, true}}, p).empty());
  p.peak_radius = -1;
  CHECK_THROWS(check_peak_inputs(m.heatmaps(), p), InvalidInput);
  p.peak_radius = 17;
  CHECK_THROWS(check_peak_inputs(m.heatmaps(), p), InvalidInput);
}

TEST_CASE("PoseParams defaults and the automatic peak radius") {
  PoseParams p;
  CHECK(p.min_parts == 5 && p.peak_radius == 0);
  CHECK(effective_peak_radius(p) == 2);  // 1.5 cells at paf_scale 1 rounds to 2
  p.paf_scale = 0.25f;                    // heatmaps upsampled x4: 6 upsampled pixels
  CHECK(effective_peak_radius(p) == 6);
  p.peak_radius = 3;
  CHECK(effective_peak_radius(p) == 3);
}
