// The only file with Python in it: pybind11 glue for the edgecv core.
// Every array is checked (dtype, rank, shape, C-contiguity) before its memory is touched,
// and the heavy loops run with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "edgecv/error.hpp"
#include "edgecv/frame.hpp"
#include "edgecv/mvs.hpp"
#include "edgecv/nms.hpp"
#include "edgecv/pnp.hpp"
#include "edgecv/pose.hpp"
#include "edgecv/scrfd.hpp"
#include "edgecv/track.hpp"
#include "edgecv/yunet.hpp"

namespace py = pybind11;
using edgecv::InvalidInput;

namespace {

py::array as_array(const py::handle& obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj))
    throw InvalidInput(name + ": expected a numpy array, got " +
                       std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

// Whether `a` holds T in this machine's byte order. Compared by type number and byte order, not by identity:
// an array that went through pickle (multiprocessing, Ray) has an equal dtype that is another object.
template <class T>
bool has_dtype(const py::array& a) {
  const py::dtype want = py::dtype::of<T>();
  const py::dtype got = a.dtype();
  if (got.is(want)) return true;
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  const char order = got.byteorder();  // '=' native, '|' not applicable, '<' little, '>' big
  const bool native = order == '=' || order == '|' || (order == '<') == (first == 1);
  return got.num() == want.num() && got.itemsize() == want.itemsize() && native;
}

// Length of the first dimension (0 for scalars).
py::ssize_t leading_dim(const py::handle& obj, const std::string& name) {
  const py::array a = as_array(obj, name);
  return a.ndim() > 0 ? a.shape(0) : 0;
}

// An array checked for dtype T, one of the allowed shapes (-1 = any size) and C-contiguity.
template <class T>
struct Checked {
  py::array array;
  std::size_t shape_index;  // which of the allowed shapes matched
  const T* data() const { return static_cast<const T*>(array.data()); }
  py::ssize_t dim(py::ssize_t i) const { return array.shape(i); }
};

bool shape_matches(const py::array& a, const std::vector<py::ssize_t>& dims) {
  if (a.ndim() != static_cast<py::ssize_t>(dims.size())) return false;
  for (std::size_t i = 0; i < dims.size(); ++i)
    if (dims[i] >= 0 && a.shape(static_cast<py::ssize_t>(i)) != dims[i]) return false;
  return true;
}

// What is wrong with `a` against one expected shape (for a precise message).
std::string shape_mismatch(const py::array& a, const std::vector<py::ssize_t>& dims) {
  if (a.ndim() != static_cast<py::ssize_t>(dims.size()))
    return "expected " + std::to_string(dims.size()) + "-D array, got " + std::to_string(a.ndim()) + "-D";
  for (std::size_t i = 0; i < dims.size(); ++i)
    if (dims[i] >= 0 && a.shape(static_cast<py::ssize_t>(i)) != dims[i])
      return "dimension " + std::to_string(i) + " must be " + std::to_string(dims[i]) + ", got " +
             std::to_string(a.shape(static_cast<py::ssize_t>(i)));
  return "";
}

template <class T>
Checked<T> checked(const py::handle& obj, const std::string& name,
                   const std::vector<std::vector<py::ssize_t>>& shapes) {
  const py::array a = as_array(obj, name);
  if (!has_dtype<T>(a))
    throw InvalidInput(name + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) + ", got " +
                       std::string(py::str(a.dtype())));
  std::size_t k = 0;
  while (k < shapes.size() && !shape_matches(a, shapes[k])) ++k;
  if (k == shapes.size()) {
    if (shapes.size() == 1) throw InvalidInput(name + ": " + shape_mismatch(a, shapes[0]));
    std::string want;
    for (const auto& sh : shapes) {
      want += want.empty() ? "(" : " or (";
      for (std::size_t i = 0; i < sh.size(); ++i)
        want += (i ? ", " : "") + (sh[i] < 0 ? std::string("n") : std::to_string(sh[i]));
      want += ")";
    }
    throw InvalidInput(name + ": expected shape " + want);
  }
  if (!(a.flags() & py::array::c_style))
    throw InvalidInput(name + ": array must be C-contiguous (use numpy.ascontiguousarray)");
  return {a, k};
}

py::array_t<float> to_array(const std::vector<float>& v, std::vector<py::ssize_t> shape) {
  py::array_t<float> out(shape);
  if (!v.empty()) std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

// The returned faces as numpy arrays: boxes (N,4), scores (N,), landmarks (N,K,2) or None.
py::tuple faces_tuple(const edgecv::Detections& d, int num_landmarks, bool with_landmarks) {
  const auto n = static_cast<py::ssize_t>(d.size());
  py::object landmarks = py::none();
  if (with_landmarks) landmarks = to_array(d.landmarks, {n, static_cast<py::ssize_t>(num_landmarks), 2});
  return py::make_tuple(to_array(d.boxes, {n, 4}), to_array(d.scores, {n}), landmarks);
}

py::tuple decode_scrfd(const py::list& levels, std::pair<int, int> input_size, int num_anchors,
                       float score_threshold, float iou_threshold, long pre_nms_top_k,
                       long max_detections, std::pair<float, float> scale,
                       std::pair<float, float> clip) {
  edgecv::ScrfdParams p;
  p.input_width = input_size.first;
  p.input_height = input_size.second;
  p.num_anchors = num_anchors;
  p.score_threshold = score_threshold;
  p.iou_threshold = iou_threshold;
  p.pre_nms_top_k = pre_nms_top_k;
  p.max_detections = max_detections;
  p.scale_x = scale.first;
  p.scale_y = scale.second;
  p.clip_width = clip.first;
  p.clip_height = clip.second;

  std::vector<edgecv::ScrfdLevel> lv;
  // Owning references to every array read while the GIL is released: the list (and the tuples in
  // it) may be changed by another thread meanwhile, which would otherwise free them.
  std::vector<py::array> keep;
  py::ssize_t landmark_cols = -1;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const std::string where = "level " + std::to_string(i);
    const py::handle item = levels[i];
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 4)
      throw InvalidInput(where + ": expected a (stride, scores, boxes, landmarks) tuple");
    const auto t = py::reinterpret_borrow<py::tuple>(item);
    edgecv::ScrfdLevel level;
    try {
      level.stride = t[0].cast<int>();
    } catch (const py::cast_error&) {
      throw InvalidInput(where + ": stride must be an int");
    }
    const py::ssize_t rows = leading_dim(t[1], where + " scores");
    const auto scores = checked<float>(t[1], where + " scores", {{rows, 1}});
    const auto boxes = checked<float>(t[2], where + " boxes", {{rows, 4}});
    level.scores = scores.data();
    level.boxes = boxes.data();
    keep.push_back(scores.array);
    keep.push_back(boxes.array);
    if (!t[3].is_none()) {
      const py::array lm = as_array(t[3], where + " landmarks");
      if (landmark_cols < 0 && lm.ndim() == 2) landmark_cols = lm.shape(1);
      if (landmark_cols <= 0 || landmark_cols % 2 != 0)
        throw InvalidInput(where + " landmarks: expected (rows, 2*K) with K >= 1");
      const auto marks = checked<float>(t[3], where + " landmarks", {{rows, landmark_cols}});
      level.landmarks = marks.data();
      keep.push_back(marks.array);
      p.num_landmarks = static_cast<int>(landmark_cols / 2);
    }
    level.rows = static_cast<std::size_t>(rows);
    lv.push_back(level);
  }

  edgecv::Detections d;
  {
    py::gil_scoped_release release;
    d = edgecv::decode_scrfd(lv, p);
  }
  return faces_tuple(d, p.num_landmarks, landmark_cols > 0);
}

py::tuple decode_yunet(const py::list& levels, std::pair<int, int> input_size, float score_threshold,
                       float iou_threshold, long pre_nms_top_k, long max_detections, std::pair<float, float> scale,
                       std::pair<float, float> clip) {
  edgecv::YunetParams p;
  p.input_width = input_size.first;
  p.input_height = input_size.second;
  p.score_threshold = score_threshold;
  p.iou_threshold = iou_threshold;
  p.pre_nms_top_k = pre_nms_top_k;
  p.max_detections = max_detections;
  p.scale_x = scale.first;
  p.scale_y = scale.second;
  p.clip_width = clip.first;
  p.clip_height = clip.second;

  std::vector<edgecv::YunetLevel> lv;
  std::vector<py::array> keep;  // owning references to every array read while the GIL is released
  py::ssize_t landmark_cols = -1;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const std::string where = "level " + std::to_string(i);
    const py::handle item = levels[i];
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 5)
      throw InvalidInput(where + ": expected a (stride, cls, obj, boxes, landmarks) tuple");
    const auto t = py::reinterpret_borrow<py::tuple>(item);
    edgecv::YunetLevel level;
    try {
      level.stride = t[0].cast<int>();
    } catch (const py::cast_error&) {
      throw InvalidInput(where + ": stride must be an int");
    }
    const py::ssize_t rows = leading_dim(t[1], where + " cls");
    const auto cls = checked<float>(t[1], where + " cls", {{rows, 1}});
    const auto obj = checked<float>(t[2], where + " obj", {{rows, 1}});
    const auto boxes = checked<float>(t[3], where + " boxes", {{rows, 4}});
    level.cls = cls.data();
    level.obj = obj.data();
    level.boxes = boxes.data();
    keep.insert(keep.end(), {cls.array, obj.array, boxes.array});
    if (!t[4].is_none()) {
      const py::array lm = as_array(t[4], where + " landmarks");
      if (landmark_cols < 0 && lm.ndim() == 2) landmark_cols = lm.shape(1);
      if (landmark_cols <= 0 || landmark_cols % 2 != 0)
        throw InvalidInput(where + " landmarks: expected (rows, 2*K) with K >= 1");
      const auto marks = checked<float>(t[4], where + " landmarks", {{rows, landmark_cols}});
      level.landmarks = marks.data();
      keep.push_back(marks.array);
      p.num_landmarks = static_cast<int>(landmark_cols / 2);
    }
    level.rows = static_cast<std::size_t>(rows);
    lv.push_back(level);
  }
  edgecv::Detections d;
  {
    py::gil_scoped_release release;
    d = edgecv::decode_yunet(lv, p);
  }
  return faces_tuple(d, p.num_landmarks, landmark_cols > 0);
}

py::array_t<long long> nms(const py::object& boxes, const py::object& scores,
                           float iou_threshold, long max_keep) {
  const py::ssize_t n = leading_dim(scores, "scores");
  const float* s = checked<float>(scores, "scores", {{-1}}).data();
  const float* b = checked<float>(boxes, "boxes", {{n, 4}}).data();
  std::vector<std::size_t> kept;
  {
    py::gil_scoped_release release;
    kept = edgecv::nms(b, s, static_cast<std::size_t>(n), iou_threshold, max_keep);
  }
  py::array_t<long long> out(static_cast<py::ssize_t>(kept.size()));
  for (std::size_t i = 0; i < kept.size(); ++i) out.mutable_at(i) = static_cast<long long>(kept[i]);
  return out;
}

edgecv::PixelFormat pixel_format(const std::string& name) {
  static const std::pair<const char*, edgecv::PixelFormat> table[] = {
      {"bgr", edgecv::PixelFormat::BGR},   {"rgb", edgecv::PixelFormat::RGB},   {"bgra", edgecv::PixelFormat::BGRA},
      {"rgba", edgecv::PixelFormat::RGBA}, {"gray", edgecv::PixelFormat::GRAY}, {"nv21", edgecv::PixelFormat::NV21},
      {"nv12", edgecv::PixelFormat::NV12}, {"i420", edgecv::PixelFormat::I420}, {"yuyv", edgecv::PixelFormat::YUYV}};
  for (const auto& [key, value] : table)
    if (name == key) return value;
  throw InvalidInput("unknown pixel format '" + name + "'; formats: bgr rgb bgra rgba gray nv21 nv12 i420 yuyv");
}

// The frame as a FrameView, checked against its format's layout (any byte strides for packed formats).
edgecv::FrameView frame_view(const py::array& a, const std::string& format) {
  if (!has_dtype<std::uint8_t>(a))
    throw InvalidInput("frame: expected dtype uint8, got " + std::string(py::str(a.dtype())));
  edgecv::FrameView f;
  f.data = static_cast<const std::uint8_t*>(a.data());
  f.format = pixel_format(format);
  const auto dims = [&](int n) { return a.ndim() == n; };
  switch (f.format) {
    case edgecv::PixelFormat::BGR:
    case edgecv::PixelFormat::RGB:
    case edgecv::PixelFormat::BGRA:
    case edgecv::PixelFormat::RGBA: {
      const py::ssize_t channels = (f.format == edgecv::PixelFormat::BGR || f.format == edgecv::PixelFormat::RGB) ? 3 : 4;
      if (!dims(3) || a.shape(2) != channels)
        throw InvalidInput("frame: " + format + " frames are (H, W, " + std::to_string(channels) + ") arrays");
      f.channel_stride = a.strides(2);
      break;
    }
    case edgecv::PixelFormat::GRAY:
      if (!(dims(2) || (dims(3) && a.shape(2) == 1))) throw InvalidInput("frame: gray frames are (H, W) arrays");
      break;
    case edgecv::PixelFormat::YUYV:
      if (!dims(3) || a.shape(2) != 2 || a.strides(2) != 1 || a.strides(1) != 2)
        throw InvalidInput("frame: yuyv frames are (H, W, 2) arrays with packed rows (OpenCV's layout)");
      break;
    default:  // YUV 4:2:0
      if (!dims(2) || a.shape(0) % 3 != 0 || a.strides(1) != 1)
        throw InvalidInput("frame: " + format + " frames are (H * 3 / 2, W) uint8 arrays with packed rows "
                           "(OpenCV's layout); got shape " + std::string(py::str(py::make_tuple(a.ndim() > 0 ? a.shape(0) : 0, a.ndim() > 1 ? a.shape(1) : 0))));
  }
  const bool yuv420 = f.format == edgecv::PixelFormat::NV21 || f.format == edgecv::PixelFormat::NV12 ||
                      f.format == edgecv::PixelFormat::I420;
  if (a.shape(0) <= 0 || a.shape(1) <= 0 || a.shape(0) > (1 << 16) || a.shape(1) > (1 << 15))
    throw InvalidInput("frame: empty or oversized (at most 32768 pixels per side)");
  f.height = static_cast<int>(yuv420 ? a.shape(0) * 2 / 3 : a.shape(0));
  f.width = static_cast<int>(a.shape(1));
  f.row_stride = a.strides(0);
  f.pixel_stride = a.strides(1);
  return f;
}

// The bytes an array's elements span (any strides), as [first, last).
std::pair<std::uintptr_t, std::uintptr_t> byte_span(const py::array& a) {
  auto first = reinterpret_cast<std::uintptr_t>(a.data());
  auto last = first + static_cast<std::uintptr_t>(a.itemsize());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.shape(i) == 0) return {first, first};
    const py::ssize_t reach = (a.shape(i) - 1) * a.strides(i);
    if (reach < 0) first -= static_cast<std::uintptr_t>(-reach);
    else last += static_cast<std::uintptr_t>(reach);
  }
  return {first, last};
}

bool overlaps(const py::array& a, const py::array& b) {
  const auto x = byte_span(a), y = byte_span(b);
  return x.first < y.second && y.first < x.second;
}

py::array prepare_frame(const py::array& frame, const std::string& format, int rotation, std::pair<int, int> size,
                        std::pair<int, int> resized, std::array<float, 3> mean, std::array<float, 3> std, bool rgb,
                        int pad_pixel, const py::object& out, bool pad_written) {
  const edgecv::FrameView f = frame_view(frame, format);
  if (pad_pixel < 0 || pad_pixel > 255) throw InvalidInput("pad_pixel must be in [0, 255]");
  edgecv::FrameParams p;
  p.rotation = rotation;
  p.out_width = size.first;
  p.out_height = size.second;
  p.resized_width = resized.first;
  p.resized_height = resized.second;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = mean[c];
    p.std[c] = std[c];
  }
  p.rgb = rgb;
  p.pad_pixel = static_cast<std::uint8_t>(pad_pixel);
  edgecv::check_frame(f, p);
  const std::vector<py::ssize_t> shape{1, 3, p.out_height, p.out_width};
  py::array result;
  if (out.is_none()) {
    if (pad_written) throw InvalidInput("pad_written needs an out array that holds the padding");
    result = py::array_t<float>(shape);
  } else {
    result = checked<float>(out, "out", {shape}).array;
    if (!result.writeable()) throw InvalidInput("out: array is read-only");
    if (overlaps(result, frame)) throw InvalidInput("out: shares memory with the frame");
  }
  p.pad_written = pad_written;
  float* dst = static_cast<float*>(result.mutable_data());
  {
    py::gil_scoped_release release;  // `frame` and `out` are arguments: the caller keeps them alive
    edgecv::prepare_frame(f, p, dst);
  }
  return result;
}

py::array_t<std::int64_t> tracker_update(edgecv::ByteTracker& tracker, const py::object& boxes, const py::object& scores) {
  const py::ssize_t n = leading_dim(scores, "scores");
  const auto s = checked<float>(scores, "scores", {{-1}});
  const auto b = checked<float>(boxes, "boxes", {{n, 4}});
  edgecv::TrackIds ids;
  {
    py::gil_scoped_release release;
    ids = tracker.update(b.data(), s.data(), static_cast<std::size_t>(n));
  }
  py::array_t<std::int64_t> out(n);
  std::copy(ids.begin(), ids.end(), out.mutable_data());
  return out;
}

edgecv::MapView map_view(const py::handle& obj, const std::string& name) {
  const auto a = checked<float>(obj, name, {{-1, -1, -1}});
  for (int i = 0; i < 3; ++i)
    if (a.dim(i) <= 0 || a.dim(i) > (1 << 20)) throw InvalidInput(name + ": empty or oversized dimension");
  return {a.data(), static_cast<int>(a.dim(0)), static_cast<int>(a.dim(1)), static_cast<int>(a.dim(2))};
}

std::vector<edgecv::Limb> limb_table(const py::handle& obj) {
  const py::array a = as_array(obj, "limbs");
  if (!has_dtype<std::int32_t>(a) && !has_dtype<std::int64_t>(a))
    throw InvalidInput("limbs: expected an integer array (int32 or int64)");
  if (a.ndim() != 2 || (a.shape(1) != 4 && a.shape(1) != 5))
    throw InvalidInput("limbs: expected shape (L, 4) [part_a, part_b, paf_x, paf_y] or (L, 5) [..., seed]");
  const auto table = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  std::vector<edgecv::Limb> limbs;
  const auto cols = table.shape(1);
  for (py::ssize_t i = 0; i < table.shape(0); ++i) {
    auto v = [&](py::ssize_t c) {
      const std::int64_t x = table.at(i, c);
      if (x < -(1LL << 30) || x > (1LL << 30)) throw InvalidInput("limbs: index out of range");
      return static_cast<int>(x);
    };
    limbs.push_back({v(0), v(1), v(2), v(3), cols == 5 ? v(4) != 0 : true});
  }
  return limbs;
}

py::tuple group_poses(const py::object& heatmaps, const py::object& pafs, const py::object& limbs,
                      const edgecv::PoseParams& params) {
  const edgecv::MapView hm = map_view(heatmaps, "heatmaps");
  const edgecv::MapView paf = map_view(pafs, "pafs");
  const std::vector<edgecv::Limb> table = limb_table(limbs);
  std::vector<edgecv::Person> people;
  std::vector<edgecv::Peak> peaks;
  {
    py::gil_scoped_release release;
    people = edgecv::group_people(hm, paf, table, params, &peaks);
  }
  const auto n = static_cast<py::ssize_t>(people.size());
  py::array_t<float> keypoints({n, static_cast<py::ssize_t>(hm.channels), py::ssize_t{3}});
  py::array_t<float> scores(n);
  float* kp = keypoints.mutable_data();
  std::fill(kp, kp + keypoints.size(), 0.f);
  for (py::ssize_t i = 0; i < n; ++i) {
    const edgecv::Person& person = people[static_cast<std::size_t>(i)];
    scores.mutable_at(i) = person.score;
    for (int part = 0; part < hm.channels; ++part) {
      const int id = person.peaks[static_cast<std::size_t>(part)];
      if (id < 0) continue;
      float* row = kp + (i * hm.channels + part) * 3;
      row[0] = peaks[static_cast<std::size_t>(id)].x;
      row[1] = peaks[static_cast<std::size_t>(id)].y;
      row[2] = peaks[static_cast<std::size_t>(id)].score;
    }
  }
  return py::make_tuple(keypoints, scores);
}

py::array_t<float> find_peaks(const py::object& heatmaps, const edgecv::PoseParams& params) {
  const edgecv::MapView hm = map_view(heatmaps, "heatmaps");
  std::vector<edgecv::Peak> peaks;
  {
    py::gil_scoped_release release;
    edgecv::check_peak_inputs(hm, params);
    peaks = edgecv::find_peaks(hm, params);
  }
  py::array_t<float> out({static_cast<py::ssize_t>(peaks.size()), py::ssize_t{4}});
  for (std::size_t i = 0; i < peaks.size(); ++i) {
    out.mutable_at(i, 0) = static_cast<float>(peaks[i].part);
    out.mutable_at(i, 1) = peaks[i].x;
    out.mutable_at(i, 2) = peaks[i].y;
    out.mutable_at(i, 3) = peaks[i].score;
  }
  return out;
}

py::tuple solve_pnp(const py::object& object_points, const py::object& image_points,
                    const py::object& camera_matrix, const py::object& dist_coeffs, const py::object& rvecs,
                    const py::object& tvecs, int max_iterations) {
  const py::array img_arr = as_array(image_points, "image_points");
  if (img_arr.ndim() != 3 || img_arr.shape(2) != 2)
    throw InvalidInput("image_points: expected shape (faces, points, 2)");
  const py::ssize_t b = img_arr.shape(0), n = img_arr.shape(1);
  const double* img = checked<double>(image_points, "image_points", {{b, n, 2}}).data();
  const auto obj_arr = checked<double>(object_points, "object_points", {{n, 3}, {b, n, 3}});
  const auto k_arr = checked<double>(camera_matrix, "camera_matrix", {{3, 3}, {b, 3, 3}});
  const double* obj = obj_arr.data();
  const double* k = k_arr.data();
  const std::size_t obj_kind = obj_arr.shape_index, k_kind = k_arr.shape_index;
  std::vector<edgecv::PinholeCamera> cams(static_cast<std::size_t>(k_kind == 0 ? 1 : b));
  for (std::size_t i = 0; i < cams.size(); ++i) {
    const double* m = k + 9 * i;
    if (m[3] != 0 || m[6] != 0 || m[7] != 0 || m[8] != 1)
      throw InvalidInput("camera_matrix: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]]");
    cams[i].fx = m[0]; cams[i].skew = m[1]; cams[i].cx = m[2]; cams[i].fy = m[4]; cams[i].cy = m[5];
  }
  if (!dist_coeffs.is_none()) {
    const auto dist = checked<double>(dist_coeffs, "dist_coeffs", {{0}, {4}, {5}});
    const double* d = dist.data();
    const int count = static_cast<int>(dist.dim(0));
    for (auto& c : cams) {
      c.num_distortion = count;
      for (int i = 0; i < count; ++i) c.distortion[static_cast<std::size_t>(i)] = d[i];
    }
  }
  const double* rv = nullptr;
  const double* tv = nullptr;
  if (rvecs.is_none() != tvecs.is_none()) throw InvalidInput("give both rvecs and tvecs as the initial guess, or neither");
  if (!rvecs.is_none()) {
    rv = checked<double>(rvecs, "rvecs", {{b, 3}}).data();
    tv = checked<double>(tvecs, "tvecs", {{b, 3}}).data();
  }
  std::vector<edgecv::PnpResult> results(static_cast<std::size_t>(b));
  {
    py::gil_scoped_release release;
    for (py::ssize_t f = 0; f < b; ++f) {
      edgecv::PnpOptions options;
      options.max_iterations = max_iterations;
      if (rv != nullptr) {
        options.use_guess = true;
        options.rvec_guess = {rv[3 * f], rv[3 * f + 1], rv[3 * f + 2]};
        options.tvec_guess = {tv[3 * f], tv[3 * f + 1], tv[3 * f + 2]};
      }
      try {
        results[static_cast<std::size_t>(f)] = edgecv::solve_pnp(
            obj + (obj_kind == 0 ? 0 : 3 * n * f), img + 2 * n * f, static_cast<std::size_t>(n),
            cams[k_kind == 0 ? 0 : static_cast<std::size_t>(f)], options);
      } catch (const InvalidInput& e) {
        throw InvalidInput("face " + std::to_string(f) + ": " + e.what());
      }
    }
  }
  py::array_t<double> out_r({b, py::ssize_t{3}}), out_m({b, py::ssize_t{3}, py::ssize_t{3}}),
      out_t({b, py::ssize_t{3}}), out_rms(b);
  for (py::ssize_t f = 0; f < b; ++f) {
    const auto& r = results[static_cast<std::size_t>(f)];
    for (int i = 0; i < 3; ++i) {
      out_r.mutable_at(f, i) = r.rvec[static_cast<std::size_t>(i)];
      out_t.mutable_at(f, i) = r.tvec[static_cast<std::size_t>(i)];
      for (int j = 0; j < 3; ++j) out_m.mutable_at(f, i, j) = r.rotation[static_cast<std::size_t>(3 * i + j)];
    }
    out_rms.mutable_at(f) = r.rms;
  }
  return py::make_tuple(out_r, out_m, out_t, out_rms);
}

// A depth map with its camera; the depth array is appended to `keep` so that it outlives a GIL release.
edgecv::DepthView depth_view(const py::handle& depth, const py::handle& K, const py::handle& E, const std::string& name,
                             std::vector<py::array>& keep) {
  const auto d = checked<float>(depth, name + " depth", {{-1, -1}});
  keep.push_back(d.array);
  edgecv::DepthView v;
  v.depth = d.data();
  v.height = static_cast<int>(d.dim(0));
  v.width = static_cast<int>(d.dim(1));
  const double* k = checked<double>(K, name + " K", {{3, 3}}).data();
  const double* e = checked<double>(E, name + " extrinsic", {{4, 4}}).data();
  std::copy(k, k + 9, v.K.begin());
  std::copy(e, e + 16, v.E.begin());
  edgecv::check_depth_view(v, name.c_str());
  return v;
}

py::tuple check_consistency(const py::object& depth, const py::object& K, const py::object& E, const py::list& sources,
                            const py::object& confidence, float max_reprojection_px, float max_relative_depth,
                            int min_views, float min_confidence, int threads) {
  std::vector<py::array> keep;
  const edgecv::DepthView ref = depth_view(depth, K, E, "reference", keep);
  std::vector<edgecv::DepthView> views;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const py::handle item = sources[i];
    if (!py::isinstance<py::tuple>(item) || py::len(item) != 3)
      throw InvalidInput("source " + std::to_string(i) + ": expected a (depth, K, extrinsic) tuple");
    const auto t = py::reinterpret_borrow<py::tuple>(item);
    views.push_back(depth_view(t[0], t[1], t[2], "source " + std::to_string(i), keep));
  }
  const float* conf = nullptr;
  if (!confidence.is_none()) {
    const auto c = checked<float>(confidence, "confidence", {{ref.height, ref.width}});
    keep.push_back(c.array);
    conf = c.data();
  }
  if (threads < 0 || threads > 1024) throw InvalidInput("threads must be in [0, 1024] (0 = all cores)");
  edgecv::ConsistencyParams p;
  p.threads = static_cast<unsigned>(threads);
  p.max_reprojection_px = max_reprojection_px;
  p.max_relative_depth = max_relative_depth;
  p.min_views = min_views;
  p.min_confidence = min_confidence;
  edgecv::ConsistencyResult r;
  {
    py::gil_scoped_release release;
    r = edgecv::check_consistency(ref, views, conf, p);
  }
  const py::ssize_t h = ref.height, w = ref.width;
  py::array_t<std::uint8_t> mask({h, w});
  py::array_t<std::int32_t> counts({h, w});
  py::array_t<float> fused({h, w});
  std::copy(r.mask.begin(), r.mask.end(), mask.mutable_data());
  std::copy(r.counts.begin(), r.counts.end(), counts.mutable_data());
  std::copy(r.fused_depth.begin(), r.fused_depth.end(), fused.mutable_data());
  return py::make_tuple(mask, counts, fused);
}

py::tuple backproject(const py::object& depth, const py::object& K, const py::object& E, const py::object& mask,
                      const py::object& image) {
  std::vector<py::array> keep;
  const edgecv::DepthView v = depth_view(depth, K, E, "depth map", keep);
  const std::uint8_t* m = nullptr;
  const std::uint8_t* img = nullptr;
  if (!mask.is_none()) {
    const auto a = checked<std::uint8_t>(mask, "mask", {{v.height, v.width}});
    keep.push_back(a.array);
    m = a.data();
  }
  if (!image.is_none()) {
    const auto a = checked<std::uint8_t>(image, "image", {{v.height, v.width, 3}});
    keep.push_back(a.array);
    img = a.data();
  }
  std::vector<float> xyz;
  std::vector<std::uint8_t> colours;
  {
    py::gil_scoped_release release;
    edgecv::backproject(v, m, img, xyz, colours);
  }
  const auto n = static_cast<py::ssize_t>(xyz.size() / 3);
  py::array_t<float> points({n, py::ssize_t{3}});
  if (n) std::copy(xyz.begin(), xyz.end(), points.mutable_data());
  py::object cols = py::none();
  if (img != nullptr) {
    py::array_t<std::uint8_t> c({n, py::ssize_t{3}});
    if (n) std::copy(colours.begin(), colours.end(), c.mutable_data());
    cols = c;
  }
  return py::make_tuple(points, cols);
}

py::array_t<float> anchor_centres(int feature_h, int feature_w, int stride, int num_anchors) {
  const auto grid = edgecv::default_anchor_cache().centres(feature_h, feature_w, stride, num_anchors);
  return to_array(*grid, {static_cast<py::ssize_t>(grid->size() / 2), 2});
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "edgecv native core (C++17): camera-frame preparation, SCRFD decoding, NMS, OpenPose grouping, PnP, MVS consistency and fusion.";

  // Core errors become edgecv.errors.InvalidInputError (an EdgecvError and a ValueError).
  // The class object is kept alive for the life of the process (released reference on purpose).
  static py::handle invalid_input_type =
      py::object(py::module_::import("edgecv.errors").attr("InvalidInputError")).release();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidInput& e) {
      PyErr_SetString(invalid_input_type.ptr(), e.what());
    }
  });

  const edgecv::ScrfdParams scrfd_defaults;
  py::class_<edgecv::ScrfdParams>(m, "ScrfdParams", "Defaults of SCRFD decoding (read by the Python options).")
      .def(py::init<>())
      .def_readonly("num_anchors", &edgecv::ScrfdParams::num_anchors)
      .def_readonly("score_threshold", &edgecv::ScrfdParams::score_threshold)
      .def_readonly("iou_threshold", &edgecv::ScrfdParams::iou_threshold)
      .def_readonly("pre_nms_top_k", &edgecv::ScrfdParams::pre_nms_top_k)
      .def_readonly("max_detections", &edgecv::ScrfdParams::max_detections);
  py::class_<edgecv::ConsistencyParams>(m, "ConsistencyParams", "Defaults of depth-map filtering (read by FusionParams).")
      .def(py::init<>())
      .def_readonly("max_reprojection_px", &edgecv::ConsistencyParams::max_reprojection_px)
      .def_readonly("max_relative_depth", &edgecv::ConsistencyParams::max_relative_depth)
      .def_readonly("min_views", &edgecv::ConsistencyParams::min_views)
      .def_readonly("min_confidence", &edgecv::ConsistencyParams::min_confidence);
  m.def("decode_scrfd", &decode_scrfd, py::arg("levels"), py::arg("input_size"),
        py::arg("num_anchors") = scrfd_defaults.num_anchors, py::arg("score_threshold") = scrfd_defaults.score_threshold,
        py::arg("iou_threshold") = scrfd_defaults.iou_threshold, py::arg("pre_nms_top_k") = scrfd_defaults.pre_nms_top_k,
        py::arg("max_detections") = scrfd_defaults.max_detections, py::arg("scale") = std::make_pair(1.f, 1.f),
        py::arg("clip") = std::make_pair(0.f, 0.f),
        R"doc(Decode SCRFD head outputs into faces.

levels: list of (stride, scores (R,1), boxes (R,4), landmarks (R,2K) or None), float32,
C-contiguous, R = ceil(H/stride) * ceil(W/stride) * num_anchors.
input_size: (W, H) of the network input. scale: (sx, sy) with x_orig = x_net / sx.
clip: (width, height) to clip to; (0, 0) disables. Returns (boxes (N,4), scores (N,),
landmarks (N,K,2) or None) sorted by score.)doc");
  const edgecv::YunetParams yunet_defaults;
  py::class_<edgecv::YunetParams>(m, "YunetParams", "Defaults of YuNet decoding (read by the Python options).")
      .def(py::init<>())
      .def_readonly("score_threshold", &edgecv::YunetParams::score_threshold)
      .def_readonly("iou_threshold", &edgecv::YunetParams::iou_threshold)
      .def_readonly("pre_nms_top_k", &edgecv::YunetParams::pre_nms_top_k)
      .def_readonly("max_detections", &edgecv::YunetParams::max_detections)
      .def_readonly("num_landmarks", &edgecv::YunetParams::num_landmarks);
  m.def("decode_yunet", &decode_yunet, py::arg("levels"), py::arg("input_size"),
        py::arg("score_threshold") = yunet_defaults.score_threshold,
        py::arg("iou_threshold") = yunet_defaults.iou_threshold, py::arg("pre_nms_top_k") = yunet_defaults.pre_nms_top_k,
        py::arg("max_detections") = yunet_defaults.max_detections, py::arg("scale") = std::make_pair(1.f, 1.f),
        py::arg("clip") = std::make_pair(0.f, 0.f),
        R"doc(Decode YuNet head outputs into faces.

levels: list of (stride, cls (R,1), obj (R,1), boxes (R,4), landmarks (R,2K) or None), float32, C-contiguous,
R = ceil(H/stride) * ceil(W/stride). Score sqrt(clamp(cls) * clamp(obj)); centre (cell + boxes[:2]) * stride,
size exp(boxes[2:]) * stride. input_size: (W, H) of the network input; scale: (sx, sy) with x_orig = x_net / sx;
clip: (width, height) to clip to, (0, 0) disables. Returns (boxes (N,4), scores (N,), landmarks (N,K,2) or None)
sorted by score.)doc");
  m.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"),
        py::arg("max_keep") = 0,
        "Greedy IoU NMS on float32 boxes (N,4) xyxy and scores (N,); returns kept indices (int64) "
        "by descending score.");
  py::class_<edgecv::PoseParams>(m, "PoseParams", "Thresholds of OpenPose peak finding and grouping.")
      .def(py::init<>())
      .def_readwrite("peak_threshold", &edgecv::PoseParams::peak_threshold)
      .def_readwrite("peak_radius", &edgecv::PoseParams::peak_radius)
      .def_readwrite("subpixel", &edgecv::PoseParams::subpixel)
      .def_readwrite("max_peaks_per_part", &edgecv::PoseParams::max_peaks_per_part)
      .def_readwrite("paf_samples", &edgecv::PoseParams::paf_samples)
      .def_readwrite("paf_sample_threshold", &edgecv::PoseParams::paf_sample_threshold)
      .def_readwrite("paf_success_ratio", &edgecv::PoseParams::paf_success_ratio)
      .def_readwrite("limb_length_prior", &edgecv::PoseParams::limb_length_prior)
      .def_readwrite("paf_scale", &edgecv::PoseParams::paf_scale)
      .def_readwrite("min_parts", &edgecv::PoseParams::min_parts)
      .def_readwrite("min_mean_score", &edgecv::PoseParams::min_mean_score)
      .def("effective_peak_radius", &edgecv::effective_peak_radius,
           "The peak window radius used: peak_radius, or round(1.5 / paf_scale) when it is 0.");
  m.def("group_poses", &group_poses, py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"),
        py::arg("params") = edgecv::PoseParams(),
        "Group people from part heatmaps (P, H, W) and PAFs (C, h, w), float32, with a limb table "
        "(L, 4|5) [part_a, part_b, paf_x, paf_y(, seed)]. Returns keypoints (N, P, 3) as x, y, score in "
        "heatmap pixels (zeros for missing parts) and person scores (N,), best first.");
  m.def("find_peaks", &find_peaks, py::arg("heatmaps"), py::arg("params") = edgecv::PoseParams(),
        "Heatmap peaks (K, 4) as part, x, y, score (heatmap pixels).");
  m.def("solve_pnp", &solve_pnp, py::arg("object_points"), py::arg("image_points"), py::arg("camera_matrix"),
        py::arg("dist_coeffs") = py::none(), py::arg("rvecs") = py::none(), py::arg("tvecs") = py::none(),
        py::arg("max_iterations") = 50,
        "Batch PnP (EPnP + Levenberg-Marquardt), float64: object_points (N,3) shared or (B,N,3), "
        "image_points (B,N,2) pixels, camera_matrix (3,3) or (B,3,3), dist_coeffs None/(4,)/(5,) as k1 k2 p1 "
        "p2 [k3], optional initial rvecs/tvecs (B,3). Returns rvecs (B,3), rotations (B,3,3), tvecs (B,3), "
        "rms reprojection error (B,) in pixels.");
  const edgecv::ConsistencyParams consistency_defaults;
  m.def("check_consistency", &check_consistency, py::arg("depth"), py::arg("K"), py::arg("extrinsic"),
        py::arg("sources"), py::arg("confidence") = py::none(),
        py::arg("max_reprojection_px") = consistency_defaults.max_reprojection_px,
        py::arg("max_relative_depth") = consistency_defaults.max_relative_depth,
        py::arg("min_views") = consistency_defaults.min_views,
        py::arg("min_confidence") = consistency_defaults.min_confidence, py::arg("threads") = 0,
        "Geometric consistency of a reference depth map (H, W) float32 with K (3,3) and world->camera extrinsic "
        "(4,4) float64 against sources [(depth, K, extrinsic), ...]. Returns mask uint8 (H,W), consistent-view "
        "counts int32 (H,W) and the depth averaged over consistent views float32 (H,W). threads: worker threads over "
        "rows (0 = all cores).");
  m.def("backproject", &backproject, py::arg("depth"), py::arg("K"), py::arg("extrinsic"), py::arg("mask") = py::none(),
        py::arg("image") = py::none(),
        "World points (M,3) float32 of the pixels with depth > 0 (and mask != 0), with their colours (M,3) uint8 "
        "from image (H,W,3) when given (else None).");
  m.def("prepare_frame", &prepare_frame, py::arg("frame"), py::arg("format"), py::arg("rotation"), py::arg("size"),
        py::arg("resized"), py::arg("mean"), py::arg("std"), py::arg("rgb") = false, py::arg("pad_pixel") = 0,
        py::arg("out") = py::none(), py::arg("pad_written") = false,
        "Camera frame -> (1, 3, size[1], size[0]) float32 network input in one pass: format conversion (bgr rgb bgra "
        "rgba gray nv21 nv12 i420 yuyv), rotation to upright (degrees the frame must be turned clockwise), bilinear "
        "resize of the upright picture to resized (w, h) at the top-left (upright bgr/rgb: OpenCV's 8-bit INTER_LINEAR, "
        "the values of cv2.resize; with SIMD where FUSED_LINEAR_RESIZE), (pixel - mean) / std per output channel "
        "(RGB when rgb), padding with pad_pixel. YUV 4:2:0 frames are (H * 3 / 2, W) arrays (OpenCV's layout). "
        "out: a C-contiguous float32 array of that shape to write into (returned) instead of a new one; "
        "pad_written: out already holds this padding (same sizes, mean, std, rgb, pad_pixel), which may be skipped.");
  m.attr("FUSED_LINEAR_RESIZE") = edgecv::fast_linear_resize();  // prepare_frame resizes BGR/RGB with SIMD here
  py::class_<edgecv::TrackerParams>(m, "TrackerParams", "ByteTrack-style tracker settings (defaults from the core).")
      .def(py::init<>())
      .def_readwrite("high_threshold", &edgecv::TrackerParams::high_threshold)
      .def_readwrite("low_threshold", &edgecv::TrackerParams::low_threshold)
      .def_readwrite("birth_threshold", &edgecv::TrackerParams::birth_threshold)
      .def_readwrite("first_min_iou", &edgecv::TrackerParams::first_min_iou)
      .def_readwrite("second_min_iou", &edgecv::TrackerParams::second_min_iou)
      .def_readwrite("unconfirmed_min_iou", &edgecv::TrackerParams::unconfirmed_min_iou)
      .def_readwrite("fuse_score", &edgecv::TrackerParams::fuse_score)
      .def_readwrite("track_buffer", &edgecv::TrackerParams::track_buffer)
      .def_readwrite("frame_rate", &edgecv::TrackerParams::frame_rate);
  py::class_<edgecv::ByteTracker>(m, "ByteTracker", "Multi-object tracker (ByteTrack-style, Kalman filter + two-stage "
                                  "association). Not thread safe: one per stream.")
      .def(py::init<const edgecv::TrackerParams&>(), py::arg("params") = edgecv::TrackerParams())
      .def("update", &tracker_update, py::arg("boxes"), py::arg("scores"),
           "boxes (N, 4) float32 xyxy, scores (N,) float32 -> track id per detection (N,) int64, -1 when it belongs "
           "to no confirmed track.")
      .def("reset", &edgecv::ByteTracker::reset, "Forget every track (ids keep increasing).")
      .def_property_readonly("live_tracks", &edgecv::ByteTracker::live_tracks);
  m.def("anchor_centres", &anchor_centres, py::arg("feature_h"), py::arg("feature_w"),
        py::arg("stride"), py::arg("num_anchors"),
        "Anchor centres (x, y) of one SCRFD feature map in input pixels, shape (H*W*A, 2).");
}
