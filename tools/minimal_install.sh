#!/usr/bin/env bash
# The smallest useful install, as on a Raspberry Pi: the edgecv wheel with the ncnn extra alone (no onnx, no
# ONNX Runtime, no MNN) in a fresh virtual environment. Reports the installed size and the peak memory after
# `import edgecv` and after the first detect(); fails if edgecv imports anything the install did not bring,
# or if asking for an engine that is not installed is not a typed error naming its extra.
#
#   bash tools/minimal_install.sh [x86_64|aarch64-qemu]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
shared="${EDGECV_SHARED:-$(cd .. && pwd)/shared}"
mode="${1:-x86_64}"
probe='
import json, os, resource, sys, time
start = time.perf_counter()
import edgecv
def rss(): return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
after_import, import_s = rss(), time.perf_counter() - start
model = edgecv.load("scrfd_2.5g_bnkps_640", engine="ncnn", threads=2)
faces = model.detect(os.path.join(os.environ["EDGECV_SHARED"], "images", "group_t1.jpg"))
after_detect = rss()
try:
    edgecv.load("scrfd_2.5g_bnkps_640")  # ONNX Runtime, not installed here
    missing = None
except edgecv.EngineNotInstalledError as exc:
    missing = str(exc)
loaded = sorted(m for m in ("onnx", "onnxruntime", "MNN", "_tools", "torch", "pnnx") if m in sys.modules)
print(json.dumps({"faces": len(faces), "rss_import_mb": after_import, "import_s": round(import_s, 2),
                  "rss_first_detect_mb": after_detect, "imported_extras": loaded, "missing_engine": missing}))
'
if [ "$mode" = aarch64-qemu ]; then
  # the same probe on the emulated aarch64 CPython with only what edgecv[ncnn] installs
  sysroot=$(bash tools/arm_sysroot.sh)
  wheel=$(ls -t dist/edgecv-*_aarch64.whl | head -1)
  site="build/minimal-aarch64"
  rm -rf "$site"
  python3 -m pip install --quiet --target "$site" --only-binary=:all: --python-version 3.11 --implementation cp \
    --abi cp311 --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
    "$wheel[ncnn]" 2>&1 | grep -v "^WARNING: Location" || true
  size=$(du -sk "$site" | cut -f1)
  result=$(cd / && EDGECV_SHARED="$shared" EDGECV_MODELS="$shared/models" PYTHONPATH="$root/$site" \
    qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/python3.11" -c "$probe")
else
  [ -n "$(ls dist/edgecv-*_x86_64.whl 2>/dev/null)" ] || bash tools/build_wheel.sh x86_64 >/dev/null
  wheel=$(ls -t dist/edgecv-*_x86_64.whl | head -1)
  venv="build/minimal-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "$wheel[ncnn]" 2>&1 | grep -v "^WARNING: Location" || true
  site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  size=$(du -sk "$site" | cut -f1)
  result=$(cd / && EDGECV_SHARED="$shared" EDGECV_MODELS="$shared/models" "$root/$venv/bin/python" -c "$probe")
fi
echo "minimal install ($mode, $(basename "$wheel")[ncnn]): $((size / 1024)) MB installed; $result"
echo "$result" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
problems = []
if r["imported_extras"]:
    problems.append("a minimal install imported %s" % r["imported_extras"])
if not r["missing_engine"] or "edgecv[onnxruntime]" not in r["missing_engine"]:
    problems.append("a missing engine was not named with its extra: %s" % r["missing_engine"])
if r["faces"] < 5:
    problems.append("%d faces on the group photo" % r["faces"])
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
'
