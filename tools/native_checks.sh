#!/usr/bin/env bash
# Native checks of the C++ core, run by tools/run_tests.sh (and so by CI):
#   1. host build + CTest;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build + CTest (any report fails the run);
#   3. aarch64 cross build with Debian's cross compiler + CTest under qemu-user.
# Installs g++-aarch64-linux-gnu and qemu-user with apt-get when they are missing (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== native C++ tests (host)"
cmake -S . -B build/native -G Ninja -DEDGECV_BUILD_TESTS=ON -DEDGECV_BUILD_PYTHON=OFF >/dev/null
cmake --build build/native -j "$jobs"
ctest --test-dir build/native --output-on-failure

echo "== native C++ tests (AddressSanitizer + UBSan)"
cmake -S . -B build/sanitize -G Ninja -DEDGECV_BUILD_TESTS=ON -DEDGECV_BUILD_PYTHON=OFF \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize --output-on-failure

echo "== native C++ tests (aarch64 cross build under qemu)"
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "aarch64-linux-gnu-g++ and qemu-aarch64 are needed: apt-get install g++-aarch64-linux-gnu qemu-user" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu qemu-user >/dev/null
fi
cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=tools/toolchain-aarch64.cmake \
  -DEDGECV_BUILD_TESTS=ON -DEDGECV_BUILD_PYTHON=OFF >/dev/null
cmake --build build/aarch64 -j "$jobs"
aarch64-linux-gnu-readelf -h build/aarch64/edgecv_core_tests | grep -q "AArch64" || { echo "not an aarch64 binary" >&2; exit 1; }
ctest --test-dir build/aarch64 --output-on-failure
