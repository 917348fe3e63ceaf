#include <cmath>
#include <limits>
#include <vector>

#include "check.hpp"
#include "edgecv/error.hpp"
#include "edgecv/yunet.hpp"

using namespace edgecv;

namespace {

// A synthetic YuNet output for a 64x32 (w x h) input, strides 8/16/32, one prior per cell, 5 landmarks.
struct Heads {
  std::vector<int> strides{8, 16, 32};
  std::vector<std::vector<float>> cls, obj, boxes, kps;
  YunetParams params;
  Heads() {
    params.input_width = 64;
    params.input_height = 32;
    for (int s : strides) {
      const std::size_t rows = static_cast<std::size_t>(((32 + s - 1) / s) * ((64 + s - 1) / s));
      cls.emplace_back(rows, 0.f);
      obj.emplace_back(rows, 0.f);
      boxes.emplace_back(rows * 4, 0.f);
      kps.emplace_back(rows * 10, 0.f);
    }
  }
  std::vector<YunetLevel> levels(bool with_kps = true) const {
    std::vector<YunetLevel> out;
    for (std::size_t i = 0; i < strides.size(); ++i)
      out.push_back({strides[i], cls[i].data(), obj[i].data(), boxes[i].data(), with_kps ? kps[i].data() : nullptr,
                     cls[i].size()});
    return out;
  }
};

bool near(float a, float b, float tol = 1e-4f) { return std::fabs(a - b) <= tol; }

}  // namespace

TEST_CASE("yunet: centre from the cell, size from exp, landmarks from the cell corner") {
  Heads h;
  // stride 16: 4 cols x 2 rows; cell (col 3, row 1) -> row 1*4+3 = 7
  const std::size_t row = 7;
  h.cls[1][row] = 0.81f;
  h.obj[1][row] = 1.0f;
  float* b = &h.boxes[1][row * 4];
  b[0] = 0.5f; b[1] = 0.25f; b[2] = std::log(2.f); b[3] = 0.f;
  float* k = &h.kps[1][row * 10];
  k[0] = 0.1f; k[1] = -0.2f; k[8] = 1.0f; k[9] = 0.5f;
  const Detections d = decode_yunet(h.levels(), h.params);
  CHECK(d.size() == 1);
  CHECK(near(d.scores[0], 0.9f));  // sqrt(0.81 * 1)
  // centre (3 + 0.5) * 16 = 56, (1 + 0.25) * 16 = 20; size 32 x 16
  CHECK(near(d.boxes[0], 40.f) && near(d.boxes[1], 12.f) && near(d.boxes[2], 72.f) && near(d.boxes[3], 28.f));
  CHECK(near(d.landmarks[0], (3 + 0.1f) * 16) && near(d.landmarks[1], (1 - 0.2f) * 16));
  CHECK(near(d.landmarks[8], 64.f) && near(d.landmarks[9], 24.f));
}

TEST_CASE("yunet: scores are clamped before the square root; threshold, NMS and scaling apply") {
  Heads h;
  h.cls[0][0] = 1.7f;  // clamped to 1
  h.obj[0][0] = 0.49f;
  h.cls[0][1] = 0.5f;  // sqrt(0.25) = 0.5 < 0.6: dropped
  h.obj[0][1] = 0.5f;
  h.cls[0][2] = -3.f;  // clamped to 0
  h.obj[0][2] = 1.f;
  const Detections d = decode_yunet(h.levels(), h.params);
  CHECK(d.size() == 1 && near(d.scores[0], 0.7f));
  // two heavily overlapping boxes: the weaker one goes
  h.cls[0][1] = 0.9f;
  h.obj[0][1] = 0.9f;
  h.boxes[0][4] = -1.f;  // cell 1's centre shifted back onto cell 0's
  YunetParams p = h.params;
  p.scale_x = 2.f;
  p.scale_y = 0.5f;
  const Detections e = decode_yunet(h.levels(), p);
  CHECK(e.size() == 1 && near(e.scores[0], 0.9f));
  CHECK(near(e.boxes[0], (8 * 0.f - 4.f) / 2.f) && near(e.boxes[1], -4.f / 0.5f));
  const Detections none = decode_yunet(h.levels(false), p);
  CHECK(none.landmarks.empty() && none.size() == 1);
}

TEST_CASE("yunet: non-finite rows are skipped, shapes and parameters checked") {
  Heads h;
  h.cls[2][0] = 1.f;
  h.obj[2][0] = 1.f;
  h.boxes[2][2] = 200.f;  // exp overflows: not a face
  h.cls[2][1] = 1.f;
  h.obj[2][1] = std::numeric_limits<float>::quiet_NaN();
  CHECK(decode_yunet(h.levels(), h.params).size() == 0);
  auto levels = h.levels();
  levels[1].rows -= 1;
  bool threw = false;
  try { (void)decode_yunet(levels, h.params); } catch (const InvalidInput&) { threw = true; }
  CHECK(threw);
  YunetParams bad = h.params;
  bad.iou_threshold = 2.f;
  threw = false;
  try { (void)decode_yunet(h.levels(), bad); } catch (const InvalidInput&) { threw = true; }
  CHECK(threw);
  threw = false;
  try { (void)decode_yunet({}, h.params); } catch (const InvalidInput&) { threw = true; }
  CHECK(threw);
}
