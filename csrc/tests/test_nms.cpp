#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/nms.hpp"

using edgecv::nms;

TEST_CASE("iou of identical, disjoint and half-overlapping boxes") {
  const float a[4] = {0, 0, 10, 10};
  const float b[4] = {20, 20, 30, 30};
  const float c[4] = {5, 0, 15, 10};
  CHECK_NEAR(edgecv::box_iou(a, a), 1.0, 1e-6);
  CHECK_NEAR(edgecv::box_iou(a, b), 0.0, 1e-6);
  CHECK_NEAR(edgecv::box_iou(a, c), 50.0 / 150.0, 1e-6);
}

TEST_CASE("nms keeps the best of an overlapping cluster and separate boxes") {
  const std::vector<float> boxes = {0, 0, 10, 10,  1, 1, 11, 11,  50, 50, 60, 60,  0, 0, 10, 9};
  const std::vector<float> scores = {0.8f, 0.9f, 0.7f, 0.95f};
  const auto kept = nms(boxes.data(), scores.data(), 4, 0.5f, 0);
  // 3 (0.95) suppresses 0 (IoU 0.9) and 1 (IoU ~0.63); 2 is separate.
  CHECK(kept.size() == 2);
  CHECK(kept[0] == 3);
  CHECK(kept[1] == 2);
}

TEST_CASE("nms threshold is strict and max_keep truncates") {
  const std::vector<float> boxes = {0, 0, 10, 10,  5, 0, 15, 10,  100, 0, 110, 10};
  const std::vector<float> scores = {0.9f, 0.8f, 0.7f};
  // IoU(0,1) = 1/3: kept at threshold 1/3 (not strictly greater), removed at 0.3.
  CHECK(nms(boxes.data(), scores.data(), 3, 1.0f / 3.0f + 1e-6f, 0).size() == 3);
  CHECK(nms(boxes.data(), scores.data(), 3, 0.3f, 0).size() == 2);
  const auto top1 = nms(boxes.data(), scores.data(), 3, 0.3f, 1);
  CHECK(top1.size() == 1 && top1[0] == 0);
}

TEST_CASE("nms on empty input and bad thresholds") {
  CHECK(nms(nullptr, nullptr, 0, 0.5f, 0).empty());
  const float box[4] = {0, 0, 1, 1};
  const float score[1] = {1};
  CHECK_THROWS(nms(box, score, 1, 1.5f, 0), edgecv::InvalidInput);
  CHECK_THROWS(nms(box, score, 1, -0.1f, 0), edgecv::InvalidInput);
  CHECK_THROWS(nms(nullptr, score, 1, 0.5f, 0), edgecv::InvalidInput);
}
