#include "edgecv/pose.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "edgecv/error.hpp"

namespace edgecv {

namespace {

inline float at(const MapView& m, int c, int y, int x) {
  return m.data[(static_cast<std::size_t>(c) * m.height + y) * m.width + x];
}

// Bilinear sample of channel c at (x, y), clamped to the map.
float sample(const MapView& m, int c, float x, float y) {
  x = std::min(std::max(x, 0.f), static_cast<float>(m.width - 1));
  y = std::min(std::max(y, 0.f), static_cast<float>(m.height - 1));
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const int x1 = std::min(x0 + 1, m.width - 1), y1 = std::min(y0 + 1, m.height - 1);
  const float fx = x - x0, fy = y - y0;
  const float top = at(m, c, y0, x0) * (1 - fx) + at(m, c, y0, x1) * fx;
  const float bottom = at(m, c, y1, x0) * (1 - fx) + at(m, c, y1, x1) * fx;
  return top * (1 - fy) + bottom * fy;
}

// Offset in [-0.5, 0.5] of the vertex of the parabola through (-1, l), (0, c), (1, r).
inline float parabola_offset(float l, float c, float r) {
  const float d = l - 2 * c + r;
  if (d >= 0.f) return 0.f;
  return std::min(0.5f, std::max(-0.5f, 0.5f * (l - r) / d));
}

bool all_finite(const MapView& m) {
  // v - v is 0 for finite v and NaN for NaN/inf; the branch-free OR vectorises.
  int bad = 0;
  const std::size_t n = static_cast<std::size_t>(m.channels) * m.height * m.width;
  for (std::size_t i = 0; i < n; ++i) bad |= !(m.data[i] - m.data[i] == 0.f);
  return bad == 0;
}

// Whether (x, y) beats its neighbours within radius r: >= all of them, and > those earlier in
// raster order, so a plateau gives exactly one peak.
bool is_window_max(const MapView& m, int c, int y, int x, int r) {
  const float v = at(m, c, y, x);
  for (int yy = std::max(0, y - r); yy <= std::min(m.height - 1, y + r); ++yy)
    for (int xx = std::max(0, x - r); xx <= std::min(m.width - 1, x + r); ++xx) {
      if (yy == y && xx == x) continue;
      const float n = at(m, c, yy, xx);
      const bool earlier = yy < y || (yy == y && xx < x);
      if (n > v || (earlier && n == v)) return false;
    }
  return true;
}

}  // namespace

int effective_peak_radius(const PoseParams& p) {
  if (p.peak_radius != 0) return p.peak_radius;
  const float r = std::round(kPeakRadiusCells / p.paf_scale);
  return std::isfinite(r) ? static_cast<int>(std::min(16.f, std::max(1.f, r))) : 1;
}

void check_peak_inputs(const MapView& hm, const PoseParams& p) {
  require(hm.data != nullptr && hm.channels > 0 && hm.height > 0 && hm.width > 0,
          "heatmaps must be a non-empty (parts, H, W) array");
  require(std::isfinite(p.peak_threshold), "peak_threshold must be finite");
  require(p.peak_radius >= 0 && p.peak_radius <= 16, "peak_radius must be in [0, 16] (0 = automatic)");
  require(std::isfinite(p.paf_scale) && p.paf_scale > 0.f, "paf_scale must be > 0");
  require(p.max_peaks_per_part >= 1 && p.max_peaks_per_part <= 4096, "max_peaks_per_part must be in [1, 4096]");
  require(all_finite(hm), "heatmaps contain NaN or infinite values");
}

void check_pose_inputs(const MapView& hm, const MapView& paf, const std::vector<Limb>& limbs,
                       const PoseParams& p) {
  check_peak_inputs(hm, p);
  require(paf.data != nullptr && paf.channels > 0 && paf.height > 0 && paf.width > 0,
          "pafs must be a non-empty (2 * limbs, H, W) array");
  require(!limbs.empty(), "the limb table is empty");
  for (std::size_t i = 0; i < limbs.size(); ++i) {
    const Limb& l = limbs[i];
    const std::string where = "limb " + std::to_string(i);
    if (l.part_a < 0 || l.part_a >= hm.channels || l.part_b < 0 || l.part_b >= hm.channels)
      throw InvalidInput(where + ": part index out of range [0, " + std::to_string(hm.channels) + ")");
    if (l.part_a == l.part_b) throw InvalidInput(where + ": joins a part to itself");
    if (l.paf_x < 0 || l.paf_x >= paf.channels || l.paf_y < 0 || l.paf_y >= paf.channels)
      throw InvalidInput(where + ": PAF channel out of range [0, " + std::to_string(paf.channels) + ")");
  }
  require(p.paf_samples >= 2 && p.paf_samples <= 1000, "paf_samples must be in [2, 1000]");
  require(std::isfinite(p.paf_sample_threshold), "paf_sample_threshold must be finite");
  require(p.paf_success_ratio >= 0.f && p.paf_success_ratio <= 1.f, "paf_success_ratio must be in [0, 1]");
  require(std::isfinite(p.limb_length_prior) && p.limb_length_prior > 0.f, "limb_length_prior must be > 0");
  require(std::isfinite(p.paf_scale) && p.paf_scale > 0.f, "paf_scale must be > 0");
  require(p.min_parts >= 1, "min_parts must be >= 1");
  require(std::isfinite(p.min_mean_score), "min_mean_score must be finite");
  // The PAF map, scaled to heatmap pixels, must cover the heatmap (to within one PAF pixel).
  const float slack = 1.f / p.paf_scale + 1.f;
  require(std::fabs(paf.width / p.paf_scale - hm.width) <= slack &&
              std::fabs(paf.height / p.paf_scale - hm.height) <= slack,
          "pafs (" + std::to_string(paf.height) + "x" + std::to_string(paf.width) + ") do not match heatmaps (" +
              std::to_string(hm.height) + "x" + std::to_string(hm.width) + ") at paf_scale " +
              std::to_string(p.paf_scale));
  require(all_finite(paf), "pafs contain NaN or infinite values");
}

std::vector<Peak> find_peaks(const MapView& hm, const PoseParams& p) {
  std::vector<Peak> peaks;
  const int r = effective_peak_radius(p);
  for (int c = 0; c < hm.channels; ++c) {
    const std::size_t first = peaks.size();
    for (int y = 0; y < hm.height; ++y) {
      for (int x = 0; x < hm.width; ++x) {
        const float v = at(hm, c, y, x);
        if (!(v > p.peak_threshold)) continue;
        // A window maximum is also a 3x3 maximum: the cheap test rejects almost every pixel.
        if (!is_window_max(hm, c, y, x, 1) || (r > 1 && !is_window_max(hm, c, y, x, r))) continue;
        float px = static_cast<float>(x), py = static_cast<float>(y);
        if (p.subpixel) {
          if (x > 0 && x + 1 < hm.width) px += parabola_offset(at(hm, c, y, x - 1), v, at(hm, c, y, x + 1));
          if (y > 0 && y + 1 < hm.height) py += parabola_offset(at(hm, c, y - 1, x), v, at(hm, c, y + 1, x));
        }
        peaks.push_back({c, px, py, v});
      }
    }
    const std::size_t found = peaks.size() - first;
    if (found > static_cast<std::size_t>(p.max_peaks_per_part)) {
      auto begin = peaks.begin() + static_cast<std::ptrdiff_t>(first);
      std::stable_sort(begin, peaks.end(), [](const Peak& a, const Peak& b) { return a.score > b.score; });
      peaks.resize(first + static_cast<std::size_t>(p.max_peaks_per_part));
    }
  }
  return peaks;
}

std::vector<Connection> connect_limb(const std::vector<Peak>& peaks, const MapView& paf, const Limb& limb,
                                     int map_height, const PoseParams& p) {
  std::vector<int> as, bs;
  for (int i = 0; i < static_cast<int>(peaks.size()); ++i) {
    if (peaks[i].part == limb.part_a) as.push_back(i);
    if (peaks[i].part == limb.part_b) bs.push_back(i);
  }
  std::vector<Connection> candidates;
  const int n = p.paf_samples;
  for (int ia : as) {
    for (int ib : bs) {
      const Peak& a = peaks[ia];
      const Peak& b = peaks[ib];
      const float dx = b.x - a.x, dy = b.y - a.y;
      const float length = std::sqrt(dx * dx + dy * dy);
      if (length < 1e-6f) continue;
      const float ux = dx / length, uy = dy / length;
      float sum = 0.f;
      int success = 0;
      for (int s = 0; s < n; ++s) {
        const float t = static_cast<float>(s) / static_cast<float>(n - 1);
        // Pixel centres: heatmap pixel u covers PAF coordinate (u + 0.5) * scale - 0.5.
        const float sx = (a.x + t * dx + 0.5f) * p.paf_scale - 0.5f;
        const float sy = (a.y + t * dy + 0.5f) * p.paf_scale - 0.5f;
        const float v = sample(paf, limb.paf_x, sx, sy) * ux + sample(paf, limb.paf_y, sx, sy) * uy;
        sum += v;
        if (v > p.paf_sample_threshold) ++success;
      }
      const float prior = std::min(p.limb_length_prior * static_cast<float>(map_height) / length - 1.f, 0.f);
      const float score = sum / static_cast<float>(n) + prior;
      if (static_cast<float>(success) >= p.paf_success_ratio * static_cast<float>(n) && score > 0.f)
        candidates.push_back({ia, ib, score});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Connection& x, const Connection& y) { return x.score > y.score; });
  std::vector<Connection> chosen;
  std::vector<int> used_a, used_b;
  for (const Connection& c : candidates) {
    if (std::find(used_a.begin(), used_a.end(), c.peak_a) != used_a.end() ||
        std::find(used_b.begin(), used_b.end(), c.peak_b) != used_b.end())
      continue;
    used_a.push_back(c.peak_a);
    used_b.push_back(c.peak_b);
    chosen.push_back(c);
  }
  return chosen;
}

std::vector<Person> group_people(const MapView& hm, const MapView& paf, const std::vector<Limb>& limbs,
                                 const PoseParams& p, std::vector<Peak>* peaks_out) {
  check_pose_inputs(hm, paf, limbs, p);
  const std::vector<Peak> peaks = find_peaks(hm, p);
  std::vector<Person> people;
  for (const Limb& limb : limbs) {
    for (const Connection& c : connect_limb(peaks, paf, limb, hm.height, p)) {
      int owners[2] = {-1, -1};
      int n_owners = 0;
      for (int i = 0; i < static_cast<int>(people.size()) && n_owners < 2; ++i)
        if (people[i].peaks[limb.part_a] == c.peak_a || people[i].peaks[limb.part_b] == c.peak_b)
          owners[n_owners++] = i;
      if (n_owners == 1) {
        Person& person = people[owners[0]];
        // Attach whichever end the person lacks.
        if (person.peaks[limb.part_b] == -1 && person.peaks[limb.part_a] == c.peak_a) {
          person.peaks[limb.part_b] = c.peak_b;
          person.parts += 1;
          person.score += peaks[c.peak_b].score + c.score;
        } else if (person.peaks[limb.part_a] == -1 && person.peaks[limb.part_b] == c.peak_b) {
          person.peaks[limb.part_a] = c.peak_a;
          person.parts += 1;
          person.score += peaks[c.peak_a].score + c.score;
        }
      } else if (n_owners == 2) {
        Person& first = people[owners[0]];
        Person& second = people[owners[1]];
        bool disjoint = true;
        for (std::size_t k = 0; k < first.peaks.size(); ++k)
          if (first.peaks[k] >= 0 && second.peaks[k] >= 0) disjoint = false;
        if (disjoint) {  // the limb joins two fragments of one person
          for (std::size_t k = 0; k < first.peaks.size(); ++k)
            if (second.peaks[k] >= 0) first.peaks[k] = second.peaks[k];
          first.parts += second.parts;
          first.score += second.score + c.score;
          people.erase(people.begin() + owners[1]);
        }
      } else if (limb.seed) {
        Person person;
        person.peaks.assign(static_cast<std::size_t>(hm.channels), -1);
        person.peaks[limb.part_a] = c.peak_a;
        person.peaks[limb.part_b] = c.peak_b;
        person.parts = 2;
        person.score = peaks[c.peak_a].score + peaks[c.peak_b].score + c.score;
        people.push_back(std::move(person));
      }
    }
  }
  people.erase(std::remove_if(people.begin(), people.end(),
                              [&](const Person& q) {
                                return q.parts < p.min_parts || q.score / q.parts < p.min_mean_score;
                              }),
               people.end());
  std::stable_sort(people.begin(), people.end(),
                   [](const Person& a, const Person& b) { return a.score > b.score; });
  if (peaks_out != nullptr) *peaks_out = peaks;
  return people;
}

}  // namespace edgecv
