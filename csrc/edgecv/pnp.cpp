#include "edgecv/pnp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "edgecv/error.hpp"

namespace edgecv {

using linalg::Mat3;
using linalg::Vec3;

namespace {

double dot3(const double* a, const double* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Distortion of normalised coordinates and its 2x2 Jacobian (row-major) when `jac` is given.
std::array<double, 2> distort(const PinholeCamera& c, double x, double y, double* jac = nullptr) {
  if (c.num_distortion == 0) {
    if (jac) { jac[0] = 1; jac[1] = 0; jac[2] = 0; jac[3] = 1; }
    return {x, y};
  }
  const double k1 = c.distortion[0], k2 = c.distortion[1], p1 = c.distortion[2], p2 = c.distortion[3];
  const double k3 = c.num_distortion > 4 ? c.distortion[4] : 0.0;
  const double r2 = x * x + y * y;
  const double radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
  const double xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x);
  const double yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
  if (jac) {
    const double dradial_dr2 = k1 + r2 * (2 * k2 + 3 * k3 * r2);
    const double drx = dradial_dr2 * 2 * x, dry = dradial_dr2 * 2 * y;
    jac[0] = radial + x * drx + 2 * p1 * y + 6 * p2 * x;
    jac[1] = x * dry + 2 * p1 * x + 2 * p2 * y;
    jac[2] = y * drx + 2 * p1 * x + 2 * p2 * y;
    jac[3] = radial + y * dry + 6 * p1 * y + 2 * p2 * x;
  }
  return {xd, yd};
}

// Pixel -> undistorted normalised coordinates (fixed-point iteration, as OpenCV does).
std::array<double, 2> normalise(const PinholeCamera& c, double u, double v) {
  const double yd = (v - c.cy) / c.fy;
  const double xd = (u - c.cx - c.skew * yd) / c.fx;
  if (c.num_distortion == 0) return {xd, yd};
  const double k1 = c.distortion[0], k2 = c.distortion[1], p1 = c.distortion[2], p2 = c.distortion[3];
  const double k3 = c.num_distortion > 4 ? c.distortion[4] : 0.0;
  double x = xd, y = yd;
  for (int i = 0; i < 20; ++i) {
    const double r2 = x * x + y * y;
    const double radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
    const double dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x);
    const double dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
    if (!(std::fabs(radial) > 1e-12)) break;
    x = (xd - dx) / radial;
    y = (yd - dy) / radial;
  }
  return {x, y};
}

struct Pose {
  Mat3 r{1, 0, 0, 0, 1, 0, 0, 0, 1};
  Vec3 t{0, 0, 0};
};

// Squared reprojection error (pixels), +inf when a point is not in front of the camera.
double reprojection_cost(const PinholeCamera& cam, const Pose& pose, const double* obj, const double* img,
                         std::size_t n) {
  double cost = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Vec3 pc = linalg::apply(pose.r, {obj[3 * i], obj[3 * i + 1], obj[3 * i + 2]});
    const Vec3 p{pc[0] + pose.t[0], pc[1] + pose.t[1], pc[2] + pose.t[2]};
    if (!(p[2] > 1e-12)) return std::numeric_limits<double>::infinity();
    const auto uv = project(cam, p);
    cost += (uv[0] - img[2 * i]) * (uv[0] - img[2 * i]) + (uv[1] - img[2 * i + 1]) * (uv[1] - img[2 * i + 1]);
  }
  return cost;
}

// Rotation and translation that best map `world` onto `camera` points (Horn's quaternion method).
Pose absolute_orientation(const std::vector<Vec3>& world, const std::vector<Vec3>& camera) {
  const std::size_t n = world.size();
  Vec3 mw{0, 0, 0}, mc{0, 0, 0};
  for (std::size_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) { mw[k] += world[i][k] / n; mc[k] += camera[i][k] / n; }
  double s[3][3] = {};
  for (std::size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) s[a][b] += (world[i][a] - mw[a]) * (camera[i][b] - mc[b]);
  std::vector<double> nmat = {
      s[0][0] + s[1][1] + s[2][2], s[1][2] - s[2][1], s[2][0] - s[0][2], s[0][1] - s[1][0],
      s[1][2] - s[2][1], s[0][0] - s[1][1] - s[2][2], s[0][1] + s[1][0], s[2][0] + s[0][2],
      s[2][0] - s[0][2], s[0][1] + s[1][0], -s[0][0] + s[1][1] - s[2][2], s[1][2] + s[2][1],
      s[0][1] - s[1][0], s[2][0] + s[0][2], s[1][2] + s[2][1], -s[0][0] - s[1][1] + s[2][2]};
  std::vector<double> values, vectors;
  linalg::symmetric_eigen(nmat, 4, values, vectors);
  std::array<double, 4> q{vectors[0 * 4 + 3], vectors[1 * 4 + 3], vectors[2 * 4 + 3], vectors[3 * 4 + 3]};
  Pose pose;
  pose.r = linalg::rotation_from_quaternion(q);
  const Vec3 rm = linalg::apply(pose.r, mw);
  pose.t = {mc[0] - rm[0], mc[1] - rm[1], mc[2] - rm[2]};
  return pose;
}

// EPnP (Lepetit et al.) on undistorted normalised image coordinates.
class Epnp {
 public:
  Epnp(const double* obj, const std::vector<std::array<double, 2>>& uv) : n_(uv.size()), uv_(uv) {
    world_.resize(n_);
    for (std::size_t i = 0; i < n_; ++i) world_[i] = {obj[3 * i], obj[3 * i + 1], obj[3 * i + 2]};
    choose_control_points();
    compute_alphas();
  }

  // Best pose over the 1-, 2- and 3-vector null-space approximations.
  Pose solve() {
    // M^T M = sum over points of (alpha alpha^T) (x) [[1, 0, -u], [0, 1, -v], [-u, -v, u^2 + v^2]].
    const std::size_t dim = 3 * nc_;
    std::vector<double> mtm(dim * dim, 0.0);
    for (std::size_t i = 0; i < n_; ++i) {
      const double u = uv_[i][0], v = uv_[i][1], w = u * u + v * v;
      const double* al = &alphas_[i * nc_];
      for (std::size_t j = 0; j < nc_; ++j)
        for (std::size_t k = 0; k < nc_; ++k) {
          const double aa = al[j] * al[k];
          double* block = &mtm[(3 * j) * dim + 3 * k];
          block[0] += aa;
          block[2] -= aa * u;
          block[dim + 1] += aa;
          block[dim + 2] -= aa * v;
          block[2 * dim] -= aa * u;
          block[2 * dim + 1] -= aa * v;
          block[2 * dim + 2] += aa * w;
        }
    }
    std::vector<double> values;
    linalg::symmetric_eigen(mtm, dim, values, null_);
    Pose best;
    double best_err = std::numeric_limits<double>::infinity();
    const int max_n = nc_ == 4 ? 3 : 2;
    for (int nvec = 1; nvec <= max_n; ++nvec) {
      std::vector<double> betas = initial_betas(nvec);
      if (betas.empty()) continue;
      refine_betas(betas);
      const Pose pose = pose_from_betas(betas);
      const double err = normalised_error(pose);
      if (err < best_err) { best_err = err; best = pose; }
    }
    return best;
  }

 private:
  void choose_control_points() {
    Vec3 c0{0, 0, 0};
    for (const Vec3& p : world_)
      for (int k = 0; k < 3; ++k) c0[k] += p[k] / static_cast<double>(n_);
    std::vector<double> cov(9, 0.0);
    for (const Vec3& p : world_)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) cov[a * 3 + b] += (p[a] - c0[a]) * (p[b] - c0[b]) / static_cast<double>(n_);
    std::vector<double> values, vectors;
    linalg::symmetric_eigen(cov, 3, values, vectors);
    const bool planar = values[0] <= 1e-9 * values[2];
    nc_ = planar ? 3 : 4;
    control_.assign(nc_, c0);
    axes_.clear();
    for (std::size_t k = 1; k < nc_; ++k) {
      const int col = 3 - static_cast<int>(k);  // largest eigenvalue first
      const double scale = std::sqrt(std::max(values[col], 1e-300));
      Vec3 axis{vectors[0 * 3 + col], vectors[1 * 3 + col], vectors[2 * 3 + col]};
      axes_.push_back({axis[0] / scale, axis[1] / scale, axis[2] / scale});
      for (int d = 0; d < 3; ++d) control_[k][d] = c0[d] + axis[d] * scale;
    }
    centre_ = c0;
  }

  void compute_alphas() {
    alphas_.assign(n_ * nc_, 0.0);
    for (std::size_t i = 0; i < n_; ++i) {
      const Vec3 d{world_[i][0] - centre_[0], world_[i][1] - centre_[1], world_[i][2] - centre_[2]};
      double sum = 0;
      for (std::size_t k = 1; k < nc_; ++k) {
        const double a = dot3(d.data(), axes_[k - 1].data());
        alphas_[i * nc_ + k] = a;
        sum += a;
      }
      alphas_[i * nc_] = 1.0 - sum;
    }
  }

  // Control point j of null-space vector k (3 values).
  const double* nv(int k, std::size_t j, double* out) const {
    const std::size_t dim = 3 * nc_;
    for (int d = 0; d < 3; ++d) out[d] = null_[(3 * j + d) * dim + static_cast<std::size_t>(k)];
    return out;
  }

  std::vector<std::pair<std::size_t, std::size_t>> pairs() const {
    std::vector<std::pair<std::size_t, std::size_t>> p;
    for (std::size_t i = 0; i < nc_; ++i)
      for (std::size_t j = i + 1; j < nc_; ++j) p.emplace_back(i, j);
    return p;
  }

  double world_dist2(std::size_t i, std::size_t j) const {
    double s = 0;
    for (int d = 0; d < 3; ++d) s += (control_[i][d] - control_[j][d]) * (control_[i][d] - control_[j][d]);
    return s;
  }

  // Differences of null-space vector k between control points i and j.
  Vec3 diff(int k, std::size_t i, std::size_t j) const {
    double a[3], b[3];
    nv(k, i, a);
    nv(k, j, b);
    return {a[0] - b[0], a[1] - b[1], a[2] - b[2]};
  }

  std::vector<double> initial_betas(int nvec) const {
    const auto ps = pairs();
    if (nvec == 1) {
      double num = 0, den = 0;
      for (const auto& [i, j] : ps) {
        const Vec3 d = diff(0, i, j);
        const double len = std::sqrt(dot3(d.data(), d.data()));
        num += len * std::sqrt(world_dist2(i, j));
        den += len * len;
      }
      if (!(den > 0)) return {};
      return {num / den};
    }
    // Linearised: unknowns are the products beta_a * beta_b (a <= b).
    std::vector<std::pair<int, int>> products;
    for (int a = 0; a < nvec; ++a)
      for (int b = a; b < nvec; ++b) products.emplace_back(a, b);
    if (ps.size() < products.size()) return {};
    std::vector<double> l, rho;
    l.reserve(ps.size() * products.size());
    rho.reserve(ps.size());
    for (const auto& [i, j] : ps) {
      for (const auto& [a, b] : products) {
        const Vec3 da = diff(a, i, j), db = diff(b, i, j);
        l.push_back((a == b ? 1.0 : 2.0) * dot3(da.data(), db.data()));
      }
      rho.push_back(world_dist2(i, j));
    }
    std::vector<double> x;
    if (!linalg::least_squares(l, rho, ps.size(), products.size(), x)) return {};
    std::vector<double> betas(static_cast<std::size_t>(nvec));
    const double b00 = x[0];
    betas[0] = std::sqrt(std::fabs(b00));
    for (int b = 1; b < nvec; ++b) {
      // beta_0 * beta_b is the product (0, b); its sign relative to beta_0 gives beta_b's sign.
      const double b0b = x[static_cast<std::size_t>(b)];
      std::size_t diag = 0;
      for (std::size_t k = 0; k < products.size(); ++k)
        if (products[k].first == b && products[k].second == b) diag = k;
      betas[static_cast<std::size_t>(b)] = std::sqrt(std::fabs(x[diag])) * ((b0b >= 0) == (b00 >= 0) ? 1.0 : -1.0);
    }
    return betas;
  }

  // Gauss-Newton on the control-point distance constraints.
  void refine_betas(std::vector<double>& betas) const {
    const auto ps = pairs();
    const std::size_t m = betas.size();
    std::vector<double> jac, res, step;
    jac.reserve(ps.size() * m);
    res.reserve(ps.size());
    std::array<Vec3, 3> ds{};
    for (int iter = 0; iter < 10; ++iter) {
      jac.clear();
      res.clear();
      for (const auto& [i, j] : ps) {
        Vec3 v{0, 0, 0};
        for (std::size_t k = 0; k < m; ++k) {
          ds[k] = diff(static_cast<int>(k), i, j);
          for (int d = 0; d < 3; ++d) v[d] += betas[k] * ds[k][d];
        }
        res.push_back(world_dist2(i, j) - dot3(v.data(), v.data()));
        for (std::size_t k = 0; k < m; ++k) jac.push_back(2 * dot3(v.data(), ds[k].data()));
      }
      if (!linalg::least_squares(jac, res, ps.size(), m, step)) return;
      double norm = 0;
      for (std::size_t k = 0; k < m; ++k) { betas[k] += step[k]; norm += step[k] * step[k]; }
      if (norm < 1e-24) return;
    }
  }

  Pose pose_from_betas(const std::vector<double>& betas) const {
    std::vector<Vec3> cc(nc_, Vec3{0, 0, 0});
    for (std::size_t j = 0; j < nc_; ++j) {
      double v[3];
      for (std::size_t k = 0; k < betas.size(); ++k) {
        nv(static_cast<int>(k), j, v);
        for (int d = 0; d < 3; ++d) cc[j][d] += betas[k] * v[d];
      }
    }
    std::vector<Vec3> pc(n_, Vec3{0, 0, 0});
    double mean_z = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      for (std::size_t j = 0; j < nc_; ++j)
        for (int d = 0; d < 3; ++d) pc[i][d] += alphas_[i * nc_ + j] * cc[j][d];
      mean_z += pc[i][2];
    }
    if (mean_z < 0)
      for (Vec3& p : pc) p = {-p[0], -p[1], -p[2]};
    return absolute_orientation(world_, pc);
  }

  double normalised_error(const Pose& pose) const {
    double err = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      const Vec3 p = linalg::apply(pose.r, world_[i]);
      const double z = p[2] + pose.t[2];
      if (!(z > 0)) return std::numeric_limits<double>::infinity();
      const double u = (p[0] + pose.t[0]) / z - uv_[i][0], v = (p[1] + pose.t[1]) / z - uv_[i][1];
      err += u * u + v * v;
    }
    return err;
  }

  std::size_t n_, nc_ = 4;
  const std::vector<std::array<double, 2>>& uv_;
  std::vector<Vec3> world_, control_, axes_;
  Vec3 centre_{};
  std::vector<double> alphas_, null_;
};

// Levenberg-Marquardt on the pixel reprojection error; R updated as exp([dw]x) R.
int refine(const PinholeCamera& cam, Pose& pose, const double* obj, const double* img, std::size_t n,
           int max_iterations) {
  double cost = reprojection_cost(cam, pose, obj, img, n);
  double lambda = 1e-3;
  int iter = 0;
  for (; iter < max_iterations && std::isfinite(cost); ++iter) {
    double h[36] = {}, g[6] = {};
    for (std::size_t i = 0; i < n; ++i) {
      const Vec3 rx = linalg::apply(pose.r, {obj[3 * i], obj[3 * i + 1], obj[3 * i + 2]});
      const Vec3 p{rx[0] + pose.t[0], rx[1] + pose.t[1], rx[2] + pose.t[2]};
      const double iz = 1.0 / p[2], x = p[0] * iz, y = p[1] * iz;
      double jd[4];
      const auto xd = distort(cam, x, y, jd);
      const double res[2] = {cam.fx * xd[0] + cam.skew * xd[1] + cam.cx - img[2 * i],
                             cam.fy * xd[1] + cam.cy - img[2 * i + 1]};
      // d(pixel)/d(normalised) = Kpix * Jd
      const double a[4] = {cam.fx * jd[0] + cam.skew * jd[2], cam.fx * jd[1] + cam.skew * jd[3], cam.fy * jd[2],
                           cam.fy * jd[3]};
      // d(normalised)/d(p): [[iz, 0, -x iz], [0, iz, -y iz]]
      double dp[2][3];
      for (int r = 0; r < 2; ++r) {
        dp[r][0] = a[2 * r] * iz;
        dp[r][1] = a[2 * r + 1] * iz;
        dp[r][2] = -(a[2 * r] * x + a[2 * r + 1] * y) * iz;
      }
      // p(w) = exp([w]x) rx + t, so d(p)/d(w) = d(w x rx)/d(w) = -[rx]x; d(p)/d(t) = I
      for (int r = 0; r < 2; ++r) {
        double j[6];
        j[0] = dp[r][2] * rx[1] - dp[r][1] * rx[2];
        j[1] = dp[r][0] * rx[2] - dp[r][2] * rx[0];
        j[2] = dp[r][1] * rx[0] - dp[r][0] * rx[1];
        j[3] = dp[r][0];
        j[4] = dp[r][1];
        j[5] = dp[r][2];
        for (int a1 = 0; a1 < 6; ++a1) {
          g[a1] += j[a1] * res[r];
          for (int b1 = a1; b1 < 6; ++b1) h[a1 * 6 + b1] += j[a1] * j[b1];
        }
      }
    }
    for (int a1 = 0; a1 < 6; ++a1)
      for (int b1 = 0; b1 < a1; ++b1) h[a1 * 6 + b1] = h[b1 * 6 + a1];
    bool improved = false;
    std::vector<double> a(36), b(6);
    for (int attempt = 0; attempt < 10 && !improved; ++attempt) {
      a.assign(h, h + 36);
      b.assign(g, g + 6);
      for (int k = 0; k < 6; ++k) {
        a[k * 6 + k] += lambda * std::max(h[k * 6 + k], 1e-12);
        b[k] = -b[k];
      }
      if (!linalg::solve(a, b, 6)) { lambda *= 10; continue; }
      Pose trial;
      trial.r = linalg::multiply(linalg::rotation_from_vector({b[0], b[1], b[2]}), pose.r);
      trial.t = {pose.t[0] + b[3], pose.t[1] + b[4], pose.t[2] + b[5]};
      const double trial_cost = reprojection_cost(cam, trial, obj, img, n);
      if (trial_cost < cost) {
        const double gain = cost - trial_cost;
        pose = trial;
        cost = trial_cost;
        lambda = std::max(lambda / 10, 1e-12);
        improved = true;
        double step = 0;
        for (double v : b) step += v * v;
        if (step < 1e-20 || gain < 1e-14 * (cost + 1e-300)) return iter + 1;
      } else {
        lambda *= 10;
      }
    }
    if (!improved) break;
  }
  return iter;
}

}  // namespace

std::array<double, 2> project(const PinholeCamera& c, const Vec3& p) {
  const auto d = distort(c, p[0] / p[2], p[1] / p[2]);
  return {c.fx * d[0] + c.skew * d[1] + c.cx, c.fy * d[1] + c.cy};
}

void check_pnp_inputs(const double* obj, const double* img, std::size_t n, const PinholeCamera& c) {
  require(n >= 4, "PnP needs at least 4 points, got " + std::to_string(n));
  require(obj != nullptr && img != nullptr, "PnP: null input");
  for (std::size_t i = 0; i < 3 * n; ++i) require(std::isfinite(obj[i]), "object points contain NaN or inf");
  for (std::size_t i = 0; i < 2 * n; ++i) require(std::isfinite(img[i]), "image points contain NaN or inf");
  require(std::isfinite(c.fx) && std::isfinite(c.fy) && c.fx > 0 && c.fy > 0,
          "focal lengths must be positive and finite");
  require(std::isfinite(c.cx) && std::isfinite(c.cy) && std::isfinite(c.skew), "principal point must be finite");
  require(c.num_distortion == 0 || c.num_distortion == 4 || c.num_distortion == 5,
          "distortion must have 0, 4 (k1 k2 p1 p2) or 5 (+ k3) coefficients");
  for (int k = 0; k < c.num_distortion; ++k)
    require(std::isfinite(c.distortion[k]), "distortion coefficients must be finite");
  // Object points must span at least a plane: the covariance needs two non-zero eigenvalues.
  double mean[3] = {0, 0, 0};
  for (std::size_t i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) mean[d] += obj[3 * i + d] / static_cast<double>(n);
  std::vector<double> cov(9, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) cov[a * 3 + b] += (obj[3 * i + a] - mean[a]) * (obj[3 * i + b] - mean[b]);
  std::vector<double> values, vectors;
  linalg::symmetric_eigen(cov, 3, values, vectors);
  require(values[2] > 0, "object points are all identical");
  require(values[1] > 1e-10 * values[2], "object points are collinear");
  double spread = 0;
  for (std::size_t i = 1; i < n; ++i)
    spread += std::fabs(img[2 * i] - img[0]) + std::fabs(img[2 * i + 1] - img[1]);
  require(spread > 0, "image points are all identical");
}

PnpResult solve_pnp(const double* obj, const double* img, std::size_t n, const PinholeCamera& cam,
                    const PnpOptions& options) {
  check_pnp_inputs(obj, img, n, cam);
  require(options.max_iterations >= 0 && options.max_iterations <= 10000, "max_iterations must be in [0, 10000]");
  Pose pose;
  if (options.use_guess) {
    for (int k = 0; k < 3; ++k)
      require(std::isfinite(options.rvec_guess[k]) && std::isfinite(options.tvec_guess[k]),
              "initial guess must be finite");
    pose.r = linalg::rotation_from_vector(options.rvec_guess);
    pose.t = options.tvec_guess;
  } else {
    std::vector<std::array<double, 2>> uv(n);
    for (std::size_t i = 0; i < n; ++i) uv[i] = normalise(cam, img[2 * i], img[2 * i + 1]);
    pose = Epnp(obj, uv).solve();
  }
  PnpResult out;
  out.iterations = refine(cam, pose, obj, img, n, options.max_iterations);
  out.rotation = pose.r;
  out.rvec = linalg::vector_from_rotation(pose.r);
  out.tvec = pose.t;
  const double cost = reprojection_cost(cam, pose, obj, img, n);
  out.rms = std::isfinite(cost) ? std::sqrt(cost / static_cast<double>(n)) : std::numeric_limits<double>::infinity();
  return out;
}

}  // namespace edgecv
