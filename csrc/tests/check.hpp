// Minimal test harness for the native core tests (no third-party dependency, builds anywhere).
#pragma once

#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace edgecv_test {

struct Case {
  const char* name;
  std::function<void()> body;
};

std::vector<Case>& registry();
int& failures();

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, body}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::cerr << file << ":" << line << ": FAILED " << what << "\n";
}

}  // namespace edgecv_test

#define EDGECV_CAT2(a, b) a##b
#define EDGECV_CAT(a, b) EDGECV_CAT2(a, b)
#define TEST_CASE(name)                                                              \
  static void EDGECV_CAT(test_fn_, __LINE__)();                                      \
  static edgecv_test::Register EDGECV_CAT(test_reg_, __LINE__)(name,                 \
                                                               EDGECV_CAT(test_fn_, __LINE__)); \
  static void EDGECV_CAT(test_fn_, __LINE__)()

#define CHECK(cond) \
  do { if (!(cond)) edgecv_test::fail(__FILE__, __LINE__, #cond); } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
  do {                                                                                     \
    const double va_ = (a), vb_ = (b);                                                     \
    if (!(std::fabs(va_ - vb_) <= (tol)))                                                  \
      edgecv_test::fail(__FILE__, __LINE__, std::string(#a " ~ " #b ": ") +                \
                                                std::to_string(va_) + " vs " + std::to_string(vb_)); \
  } while (0)

#define CHECK_THROWS(expr, type)                                          \
  do {                                                                    \
    bool thrown_ = false;                                                 \
    try { (void)(expr); } catch (const type&) { thrown_ = true; }         \
    if (!thrown_) edgecv_test::fail(__FILE__, __LINE__, "expected " #type " from " #expr); \
  } while (0)
