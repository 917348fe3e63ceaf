#!/usr/bin/env bash
# The pure-Python wheel end to end, where no compiled core exists: a fresh environment with only what
# `pip install edgecv-*-py3-none-any.whl ncnn` brings (numpy, OpenCV, Pillow, ncnn; no compiler, no ONNX Runtime,
# no MNN), on x86_64 and on Debian's arm64 CPython under qemu-user. SCRFD, YuNet and OpenPose run on ncnn on the
# Python core and are compared with the native build's results (tools/smoke.py: the same faces, people and angles;
# on x86 at the one-machine tolerances, 0.5 px).
#
#   bash tools/pure_wheel.sh            # both; or x86_64 / aarch64-qemu
#
# Run from the environment edgecv is installed in (tools/run_tests.sh activates .venv): it records the reference
# and converts the ncnn files (pnnx is an x86 binary) into a cache both runs reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mode="${1:-all}"
shared="${EDGECV_SHARED:-$(cd .. && pwd)/shared}"
export EDGECV_SHARED="$shared" EDGECV_MODELS="${EDGECV_MODELS:-$shared/models}"
host_python="${PYTHON:-python3}"
work="build/pure"
mkdir -p "$work"
bash tools/build_wheel.sh pure >/dev/null
wheel=$(ls -t dist/edgecv-*-py3-none-any.whl | head -1)
export EDGECV_CACHE="$root/$work/cache"
echo "== reference: the native build on x86_64, ncnn"
(cd "$work" && "$host_python" -m edgecv fetch scrfd_2.5g_bnkps_640 yunet_n_640 lightweight_openpose_hpe0001 \
   --engine ncnn >/dev/null)
(cd "$work" && "$host_python" "$root/tools/smoke.py" record "$root/$work/native.json" --engines ncnn)
check='import importlib.util as u, sys, edgecv.native as n
missing = [m for m in ("edgecv._core", "onnxruntime", "MNN", "onnx", "torch") if u.find_spec(m)]
print("core", n.KIND, "extras", missing)
sys.exit(0 if n.KIND == "python" and not missing else 1)'
if [ "$mode" = all ] || [ "$mode" = x86_64 ]; then
  echo "== pure wheel on x86_64 ($(basename "$wheel"))"
  venv="$work/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "$wheel" ncnn 2>&1 | grep -v "^WARNING: Location" || true
  (cd / && "$root/$venv/bin/python" -c "$check")
  (cd "$work" && "$root/$venv/bin/python" "$root/tools/smoke.py" check "$root/$work/native.json" --engines ncnn \
     --expect-core python --strict)
  echo "installed: $(du -sk "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" | cut -f1) KiB"
fi
if [ "$mode" = all ] || [ "$mode" = aarch64-qemu ]; then
  echo "== pure wheel on aarch64 under qemu-user"
  sysroot=$(bash tools/arm_sysroot.sh)
  site="$work/site-aarch64"
  rm -rf "$site"
  "$host_python" -m pip install --quiet --target "$site" --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_31_aarch64 --platform manylinux_2_34_aarch64 "$wheel" ncnn 2>&1 \
    | grep -v "^WARNING: Location" || true
  (cd "$work" && PYTHONPATH="$root/$site" PYTHONNOUSERSITE=1 \
    qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" -c "$check")
  (cd "$work" && PYTHONPATH="$root/$site" PYTHONNOUSERSITE=1 \
    qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" "$root/tools/smoke.py" check "$root/$work/native.json" \
    --engines ncnn --expect-machine aarch64 --expect-core python)
fi
echo "== pure wheel passed ($(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB)"
