#include "edgecv/nms.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "edgecv/error.hpp"

namespace edgecv {

float box_iou(const float* a, const float* b) {
  const float iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  const float ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (iw <= 0.f || ih <= 0.f) return 0.f;
  const float inter = iw * ih;
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  const float uni = area_a + area_b - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

std::vector<std::size_t> nms(const float* boxes, const float* scores, std::size_t n,
                             float iou_threshold, long max_keep) {
  require(std::isfinite(iou_threshold) && iou_threshold >= 0.f && iou_threshold <= 1.f,
          "iou_threshold must be in [0, 1]");
  std::vector<std::size_t> kept;
  if (n == 0) return kept;
  require(boxes != nullptr && scores != nullptr, "nms: null input");

  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [scores](std::size_t i, std::size_t j) { return scores[i] > scores[j]; });

  const std::size_t limit = max_keep > 0 ? static_cast<std::size_t>(max_keep) : n;
  std::vector<char> suppressed(n, 0);
  for (std::size_t oi = 0; oi < n && kept.size() < limit; ++oi) {
    const std::size_t i = order[oi];
    if (suppressed[i]) continue;
    kept.push_back(i);
    const float* bi = boxes + 4 * i;
    for (std::size_t oj = oi + 1; oj < n; ++oj) {
      const std::size_t j = order[oj];
      if (!suppressed[j] && box_iou(bi, boxes + 4 * j) > iou_threshold) suppressed[j] = 1;
    }
  }
  return kept;
}

}  // namespace edgecv
