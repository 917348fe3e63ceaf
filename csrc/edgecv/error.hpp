// Error type of the edgecv core: thrown for every input the core refuses.
#pragma once

#include <stdexcept>
#include <string>

namespace edgecv {

// Bad shapes, sizes, indices or parameters. The bindings map it to edgecv.errors.InvalidInputError.
class InvalidInput : public std::invalid_argument {
 public:
  explicit InvalidInput(const std::string& what) : std::invalid_argument(what) {}
};

// The const char* overload builds no std::string unless the check fails (used in hot loops).
inline void require(bool ok, const char* message) {
  if (!ok) throw InvalidInput(message);
}

inline void require(bool ok, const std::string& message) {
  if (!ok) throw InvalidInput(message);
}

}  // namespace edgecv
