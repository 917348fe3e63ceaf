#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
# From a fresh clone: makes a virtual environment, installs edgecv with every engine and the test
# tools, builds and runs the native C++ tests (CMake + CTest), then runs pytest on the installed
# package with the real models in ../shared (override with EDGECV_SHARED / EDGECV_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${EDGECV_VENV:-.venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[all,test]" cmake ninja
# The converter's pnnx binary: its wheel declares torch (GBs) but the binary needs none.
python -m pip install --quiet --no-deps pnnx

echo "== native C++ tests"
cmake -S . -B build/native -G Ninja -DEDGECV_BUILD_TESTS=ON -DEDGECV_BUILD_PYTHON=OFF >/dev/null
cmake --build build/native
ctest --test-dir build/native --output-on-failure

echo "== python tests"
pytest "$@"
