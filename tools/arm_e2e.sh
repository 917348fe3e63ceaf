#!/usr/bin/env bash
# The SDK end to end on aarch64, under qemu-user, on this x86 machine: the aarch64 wheel (tools/build_wheel.sh),
# PyPI's aarch64 wheels of numpy, OpenCV, Pillow, simplejpeg, ncnn, MNN and ONNX Runtime, and Debian's arm64 CPython 3.11 unpacked
# into a sysroot (tools/arm_sysroot.sh; `qemu-aarch64 -L SYSROOT SYSROOT/usr/bin/python3.11`). Runs the smoke
# subset (tools/smoke.py) there and compares it with the same run on x86: same faces, people, head-pose
# angles, CLI output and typed errors. The sysroot and the engine wheels are cached (EDGECV_ARM_CACHE).
#
#   bash tools/arm_e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
start=$(date +%s)
cache="${EDGECV_ARM_CACHE:-$HOME/.cache/edgecv-arm}"
shared="${EDGECV_SHARED:-$(cd .. && pwd)/shared}"
export EDGECV_SHARED="$shared" EDGECV_MODELS="${EDGECV_MODELS:-$shared/models}"
if ! command -v qemu-aarch64 >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "needs qemu-user (apt-get install qemu-user)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
fi
# the x86 side: the Python environment edgecv is installed in (tools/run_tests.sh activates .venv)
host_python="${PYTHON:-python3}"
(cd / && "$host_python" -c "import edgecv" 2>/dev/null) || {
  echo "run from the environment edgecv is installed in (e.g. . .venv/bin/activate), or set PYTHON" >&2; exit 1; }
sysroot=$(bash tools/arm_sysroot.sh)
bash tools/build_wheel.sh aarch64 >/dev/null
wheel=$(ls -t dist/edgecv-*_aarch64.whl | head -1)
# the engines at the versions installed here, so both runs compare like with like
reqs=$("$host_python" - <<'PY'
from importlib.metadata import version, PackageNotFoundError
out = []
for name in ("numpy", "opencv-python-headless", "ncnn", "MNN", "onnxruntime", "jsonschema", "tqdm", "Pillow", "simplejpeg"):
    try:
        out.append(f"{name}=={version(name)}")
    except PackageNotFoundError:
        out.append(name)
print(" ".join(out))
PY
)
site="$cache/site-$(echo "$reqs" | sha256sum | cut -c1-12)"
if [ ! -f "$site/.complete" ]; then
  rm -rf "$site"
  # shellcheck disable=SC2086
  "$host_python" -m pip install --quiet --target "$site" --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_31_aarch64 --platform manylinux_2_34_aarch64 $reqs 2>&1 | grep -v "^WARNING: Location" || true
  touch "$site/.complete"
fi
work="build/arm-e2e"
rm -rf "$work/edgecv"
mkdir -p "$work"
"$host_python" -m zipfile -e "$wheel" "$work/edgecv"  # a wheel's files are its installed layout
export EDGECV_CACHE="$root/$work/cache"  # conversions made on x86 (pnnx is an x86 binary) are reused on aarch64
echo "== x86_64 reference"
(cd "$work" && "$host_python" "$root/tools/smoke.py" record "$root/$work/x86.json")
echo "== aarch64 under qemu-user ($(qemu-aarch64 --version | head -1))"
(cd "$work" && PYTHONPATH="$root/$work/edgecv:$site" PYTHONNOUSERSITE=1 \
  qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" "$root/tools/smoke.py" check "$root/$work/x86.json" \
  --expect-machine aarch64 --expect-core native)
echo "== arm e2e passed in $(( $(date +%s) - start )) s ($(basename "$wheel"))"
