#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
# From a fresh clone: makes a virtual environment, installs edgecv with every engine and the test
# tools, runs the native C++ tests (host, sanitizers, aarch64 under qemu: tools/native_checks.sh),
# then pytest on the installed package with the real models in ../shared (override with
# EDGECV_SHARED / EDGECV_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* (at ${SECONDS}s)"; }

venv="${EDGECV_VENV:-.venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[all,test]" cmake ninja
# The converter's pnnx binary: its wheel declares torch (GBs) but the binary needs none.
python -m pip install --quiet --no-deps pnnx

step "import layering (import-linter)"
PYTHONPATH=tools lint-imports
step "ruff, mypy (settings in pyproject.toml)"
ruff check edgecv tests benchmarks tools examples
mypy
step "docs site (mkdocs build --strict: broken links and anchors fail)"
export NO_MKDOCS_2_WARNING=1
docs_out="$(mktemp -d)"
# (not --quiet: it hides the warnings that --strict counts)
if ! mkdocs build --strict --site-dir "$docs_out/site" >"$docs_out/log" 2>&1; then
  grep -v "^INFO" "$docs_out/log" >&2
  exit 1
fi
rm -rf "$docs_out"

# Native C++ tests: host, AddressSanitizer + UBSan, and aarch64 under qemu.
bash tools/native_checks.sh

# The aarch64 wheel end to end under qemu-user (real engines on real photos, compared with x86), and the
# minimal install (edgecv[ncnn] alone): its size, memory, and that it imports nothing it did not install.
step "aarch64 wheel end to end (qemu-user)"
bash tools/arm_e2e.sh
step "minimal install (edgecv[ncnn])"
bash tools/minimal_install.sh
# The pure-Python wheel (no compiled core) in a fresh venv with ncnn only, on x86_64 and aarch64 under qemu.
step "pure-Python wheel (x86_64, aarch64 under qemu)"
bash tools/pure_wheel.sh

# The web page of `edgecv serve` is tested in a real headless Chromium (Debian's chromium + chromium-driver).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (apt-get)"
  [ "$(id -u)" = 0 ] || { echo "needs chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         chromium chromium-driver >/dev/null; }
fi

step "python tests"
pytest "$@"

# The task tests a second time on the Python core (edgecv._pycore), as the pure wheel runs them. conftest
# narrows the engines to ONNX Runtime here: the engines are the same code either way, the core is what differs.
# (tests/core already runs every core entry point on both cores, streams' frame paths and MVS filtering included.)
step "python tests on the Python core (EDGECV_CORE=python)"
EDGECV_CORE=python pytest -q -p no:cacheprovider tests/tasks/test_scrfd.py tests/tasks/test_yunet.py \
  tests/tasks/test_openpose.py tests/tasks/test_headpose.py
echo "== done in ${SECONDS}s"
