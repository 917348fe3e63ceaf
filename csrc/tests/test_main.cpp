#include "check.hpp"

namespace edgecv_test {
std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
int& failures() {
  static int count = 0;
  return count;
}
}  // namespace edgecv_test

int main() {
  using namespace edgecv_test;
  int failed_cases = 0;
  for (const Case& c : registry()) {
    const int before = failures();
    try {
      c.body();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string(c.name) + ": unexpected exception: " + e.what());
    }
    const bool ok = failures() == before;
    failed_cases += ok ? 0 : 1;
    std::cout << (ok ? "ok   " : "FAIL ") << c.name << "\n";
  }
  const int passed = static_cast<int>(registry().size()) - failed_cases;
  std::cout << passed << " passed, " << failed_cases << " failed\n";
  return failed_cases == 0 ? 0 : 1;
}
