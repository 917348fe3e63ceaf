#!/usr/bin/env bash
# The pure-Python wheel end to end, where no compiled core exists: a fresh environment with only what
# `pip install edgecv-*-py3-none-any.whl ncnn` brings (numpy, OpenCV, Pillow, ncnn; no compiler, no ONNX Runtime,
# no MNN), on x86_64 and on Debian's arm64 CPython under qemu-user. SCRFD, YuNet and OpenPose run on ncnn on the
# Python core and are compared with the native build's results (tools/smoke.py: the same faces, people and angles;
# on x86 at the one-machine tolerances, 0.5 px).
#
#   bash tools/pure_wheel.sh            # all; or x86_64 / aarch64-qemu / android
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
  echo "-- the mobile example (NV21 frame, rotation 90) on the pure wheel"
  (cd "$work" && "$root/$venv/bin/python" "$root/examples/mobile/camera.py" "$shared/images/group_t1.jpg")
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
  (cd "$work" && PYTHONPATH="$root/$site" PYTHONNOUSERSITE=1 \
    qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" "$root/examples/mobile/camera.py" "$shared/images/group_t1.jpg")
fi
if [ "$mode" = all ] || [ "$mode" = android ]; then
  # No Android device, emulator or NDK here: what can be checked is that every requirement of the pure wheel
  # resolves to an Android wheel (arm64-v8a, API 24, CPython 3.13) except those the mobile indexes provide
  # (numpy, opencv-python, Pillow: Chaquopy's and Flet's indexes), and that ncnn comes from PyPI.
  echo "== pure wheel's requirements for Android (pip resolution only)"
  "$host_python" - "$wheel" "$work/android" <<'PY'
import subprocess, sys, zipfile
from packaging.markers import default_environment
from packaging.requirements import Requirement
wheel, dest = sys.argv[1:]
meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA"))
reqs = [Requirement(line.split(":", 1)[1].strip()) for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
        if line.startswith("Requires-Dist:")]
# On the phone (CPython >= 3.13: sys.platform "android"), and as Flet's packager resolves on a Linux build machine
# (platform.system() patched to "Android", sys.platform left alone): the same requirements either way.
chosen = []
for sys_platform in ("android", "linux"):
    env = dict(default_environment(), sys_platform=sys_platform, platform_system="Android",
               platform_machine="aarch64", python_version="3.13", python_full_version="3.13.0", extra="")
    chosen.append(sorted(str(r) for r in reqs if r.marker is None or r.marker.evaluate(env)))
assert chosen[0] == chosen[1], chosen
wanted = [r for r in reqs if r.marker is None or r.marker.evaluate(env)]
from_mobile_index = {"numpy", "opencv-python", "pillow"}
names = sorted({r.name.lower() for r in wanted})
assert "opencv-python-headless" not in names and "simplejpeg" not in names, names
pypi = [f"{r.name}{r.specifier}" for r in wanted if r.name.lower() not in from_mobile_index]
print("from the mobile index:", ", ".join(sorted(from_mobile_index & set(names))))
base = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", dest, "--only-binary=:all:", "--platform",
        "android_24_arm64_v8a", "--python-version", "3.13", "--implementation", "cp", "--abi", "cp313"]
for args in (pypi, ["--no-deps", "ncnn"]):  # ncnn's own requirement is numpy, from the mobile index
    done = subprocess.run(base + args, capture_output=True, text=True)
    if done.returncode:
        sys.exit("not installable on Android from PyPI: " + done.stderr.strip().splitlines()[-1])
print("from PyPI for android_24_arm64_v8a:", ", ".join(pypi + ["ncnn"]))
PY
fi
echo "== pure wheel passed ($(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB)"
