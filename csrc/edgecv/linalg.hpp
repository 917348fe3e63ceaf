// Small dense linear algebra for the geometry code (row-major, double precision, no allocation-heavy
// types): symmetric eigen-decomposition (Jacobi), linear solves, 3x3 rotation helpers.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace edgecv {
namespace linalg {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  // row-major

// Eigen-decomposition of a symmetric n x n matrix `a` (row-major, destroyed). Eigenvalues ascending in
// `values`; eigenvector k in column k of `vectors` (row-major n x n).
void symmetric_eigen(std::vector<double>& a, std::size_t n, std::vector<double>& values,
                     std::vector<double>& vectors);

// Solves the least-squares problem min |A x - b| (A is rows x cols, rows >= cols) through the
// normal equations with Gaussian elimination and partial pivoting. Returns false when singular.
bool least_squares(const std::vector<double>& a, const std::vector<double>& b, std::size_t rows,
                   std::size_t cols, std::vector<double>& x);

// Solves the n x n system a x = b in place (partial pivoting). Returns false when singular.
bool solve(std::vector<double>& a, std::vector<double>& b, std::size_t n);

Mat3 multiply(const Mat3& a, const Mat3& b);
Vec3 apply(const Mat3& m, const Vec3& v);
Mat3 transpose(const Mat3& m);
double determinant(const Mat3& m);

// Rodrigues: rotation vector <-> rotation matrix.
Mat3 rotation_from_vector(const Vec3& r);
Vec3 vector_from_rotation(const Mat3& r);

// Rotation from a unit quaternion (w, x, y, z).
Mat3 rotation_from_quaternion(const std::array<double, 4>& q);

}  // namespace linalg
}  // namespace edgecv
