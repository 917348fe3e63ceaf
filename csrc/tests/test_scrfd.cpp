#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/scrfd.hpp"

using namespace edgecv;

namespace {

// One synthetic pyramid for a 64x32 (w x h) input, strides 8/16/32, 2 anchors, 5 landmarks.
struct Pyramid {
  std::vector<int> strides{8, 16, 32};
  std::vector<std::vector<float>> scores, boxes, kps;
  ScrfdParams params;
  Pyramid() {
    params.input_width = 64;
    params.input_height = 32;
    for (int s : strides) {
      const std::size_t rows = static_cast<std::size_t>(feature_size(32, s) * feature_size(64, s) * 2);
      scores.emplace_back(rows, 0.f);
      boxes.emplace_back(rows * 4, 1.f);
      kps.emplace_back(rows * 10, 0.f);
    }
  }
  std::vector<ScrfdLevel> levels(bool with_kps = true) const {
    std::vector<ScrfdLevel> out;
    for (std::size_t i = 0; i < strides.size(); ++i)
      out.push_back({strides[i], scores[i].data(), boxes[i].data(),
                     with_kps ? kps[i].data() : nullptr, scores[i].size()});
    return out;
  }
};

}  // namespace

TEST_CASE("anchor centres follow row-major locations with consecutive anchors") {
  AnchorCache cache;
  const auto g = cache.centres(2, 3, 8, 2);
  CHECK(g->size() == 2 * 3 * 2 * 2);
  // location (y=1, x=2), second anchor -> row (1*3+2)*2+1 = 11
  CHECK((*g)[2 * 11] == 16.f);
  CHECK((*g)[2 * 11 + 1] == 8.f);
  CHECK(cache.centres(2, 3, 8, 2).get() == g.get());  // cached by shape
  CHECK(cache.size() == 1);
  cache.centres(3, 2, 8, 2);
  CHECK(cache.size() == 2);
  CHECK(feature_size(30, 8) == 4);
}

TEST_CASE("decode scales distances and landmark offsets by stride") {
  Pyramid p;
  // stride 16 level: feature 2x4, location (y=1, x=3), anchor 0 -> row (1*4+3)*2 = 14
  const std::size_t row = 14;
  p.scores[1][row] = 0.9f;
  float* b = &p.boxes[1][row * 4];
  b[0] = 0.5f; b[1] = 0.25f; b[2] = 1.0f; b[3] = 2.0f;
  float* k = &p.kps[1][row * 10];
  for (int j = 0; j < 5; ++j) { k[2 * j] = 0.1f * j; k[2 * j + 1] = -0.1f * j; }
  const Detections d = decode_scrfd(p.levels(), p.params);
  CHECK(d.size() == 1);
  // centre (48, 16); box = (48-8, 16-4, 48+16, 16+32)
  CHECK_NEAR(d.boxes[0], 40.0, 1e-5);
  CHECK_NEAR(d.boxes[1], 12.0, 1e-5);
  CHECK_NEAR(d.boxes[2], 64.0, 1e-5);
  CHECK_NEAR(d.boxes[3], 48.0, 1e-5);
  CHECK_NEAR(d.scores[0], 0.9, 1e-6);
  CHECK(d.landmarks.size() == 10);
  CHECK_NEAR(d.landmarks[2 * 3], 48 + 0.3 * 16, 1e-4);
  CHECK_NEAR(d.landmarks[2 * 3 + 1], 16 - 0.3 * 16, 1e-4);
}

TEST_CASE("decode maps to original pixels and clips") {
  Pyramid p;
  p.scores[0][0] = 0.8f;  // stride 8, centre (0, 0)
  float* b = &p.boxes[0][0];
  b[0] = 1; b[1] = 1; b[2] = 2; b[3] = 3;  // (-8,-8,16,24)
  p.params.scale_x = 0.5f;
  p.params.scale_y = 0.25f;
  p.params.clip_width = 100.f;
  p.params.clip_height = 50.f;
  const Detections d = decode_scrfd(p.levels(false), p.params);
  CHECK(d.size() == 1);
  CHECK(d.landmarks.empty());
  CHECK_NEAR(d.boxes[0], 0.0, 1e-6);   // -16 clipped
  CHECK_NEAR(d.boxes[1], 0.0, 1e-6);
  CHECK_NEAR(d.boxes[2], 32.0, 1e-5);
  CHECK_NEAR(d.boxes[3], 50.0, 1e-5);  // 96 clipped to 50
}

TEST_CASE("threshold, per-level top-k, NMS across levels, max detections") {
  Pyramid p;
  // Three well-separated stride-8 candidates and one stride-16 duplicate of the first.
  p.scores[0][0] = 0.6f;    // centre (0,0)
  p.scores[0][6] = 0.7f;    // location x=3 -> centre (24,0)
  p.scores[0][14] = 0.4f;   // below threshold
  p.scores[0][2 * 8 * 2] = 0.65f;  // location y=2,x=0 -> centre (0,16)
  p.scores[1][0] = 0.95f;   // stride 16 centre (0,0), box (-16,-16,16,16)
  for (auto& v : p.boxes[0]) v = 0.5f;  // stride 8 boxes 8x8 around centre
  const Detections all = decode_scrfd(p.levels(), p.params);
  CHECK(all.size() == 4);
  CHECK(all.scores[0] == 0.95f);
  CHECK(all.scores[1] == 0.7f);
  p.params.pre_nms_top_k = 1;  // only the 0.7 candidate survives on stride 8
  const Detections top = decode_scrfd(p.levels(), p.params);
  CHECK(top.size() == 2);
  CHECK_NEAR(top.scores[1], 0.7, 1e-6);
  p.params.pre_nms_top_k = 0;
  p.params.max_detections = 3;
  CHECK(decode_scrfd(p.levels(), p.params).size() == 3);
  // A big stride-16 box swallowing the stride-8 one at (0,0) suppresses it.
  p.params.max_detections = 0;
  for (auto& v : p.boxes[1]) v = 0.3f;  // (-4.8,-4.8,4.8,4.8): IoU with (-4,-4,4,4) = 0.69
  const Detections merged = decode_scrfd(p.levels(), p.params);
  CHECK(merged.size() == 3);
}

TEST_CASE("non-finite rows are skipped, not decoded") {
  Pyramid p;
  p.scores[0][0] = std::numeric_limits<float>::quiet_NaN();
  p.scores[0][2] = 0.9f;
  p.boxes[0][2 * 4] = std::numeric_limits<float>::infinity();
  p.scores[0][4] = 0.8f;
  p.kps[0][4 * 10 + 3] = std::numeric_limits<float>::quiet_NaN();
  p.scores[0][6] = 0.7f;
  const Detections d = decode_scrfd(p.levels(), p.params);
  CHECK(d.size() == 1);
  CHECK_NEAR(d.scores[0], 0.7, 1e-6);
}

TEST_CASE("inconsistent levels and parameters are refused") {
  Pyramid p;
  auto levels = p.levels();
  levels[1].rows -= 2;
  CHECK_THROWS(decode_scrfd(levels, p.params), InvalidInput);
  levels = p.levels();
  levels[2].landmarks = nullptr;
  CHECK_THROWS(decode_scrfd(levels, p.params), InvalidInput);
  levels = p.levels();
  levels[2].stride = 16;
  CHECK_THROWS(decode_scrfd(levels, p.params), InvalidInput);
  levels = p.levels();
  levels[0].stride = 0;
  CHECK_THROWS(decode_scrfd(levels, p.params), InvalidInput);
  CHECK_THROWS(decode_scrfd({}, p.params), InvalidInput);
  ScrfdParams bad = p.params;
  bad.iou_threshold = 2.f;
  CHECK_THROWS(decode_scrfd(p.levels(), bad), InvalidInput);
  bad = p.params;
  bad.scale_x = 0.f;
  CHECK_THROWS(decode_scrfd(p.levels(), bad), InvalidInput);
  bad = p.params;
  bad.input_width = 0;
  CHECK_THROWS(decode_scrfd(p.levels(), bad), InvalidInput);
}

TEST_CASE("anchor cache is bounded and refuses absurd grids") {
  AnchorCache cache;
  const auto kept = cache.centres(1, 1, 8, 1);
  std::size_t total = 0;
  for (int i = 2; i < 100; ++i) {
    cache.centres(i * 20, 400, 8, 2);  // up to 1.6M anchors each
    total += static_cast<std::size_t>(i) * 20 * 400 * 2;
  }
  CHECK(total > 4 * AnchorCache::kMaxCachedAnchors);
  CHECK(cache.size() < 98);
  CHECK((*kept)[0] == 0.f);  // an evicted grid stays valid for its holders
  CHECK_THROWS(cache.centres(100000, 100000, 8, 2), InvalidInput);
  CHECK_THROWS(cache.centres(10, 10, 1 << 30, 2), InvalidInput);
}
