#!/usr/bin/env bash
# Build a wheel of edgecv into dist/: a binary one for x86_64 (native) or aarch64 (cross-compiled on this machine),
# or the pure-Python one (py3-none-any: no C++ is built; edgecv then runs on its Python core, edgecv._pycore).
#
#   bash tools/build_wheel.sh aarch64      # or x86_64 (default), or pure
#
# pip prefers a platform wheel where one matches and takes the pure wheel everywhere else (Android, iOS,
# armv7l, musl...).
#
# aarch64: Debian's cross compiler (g++-aarch64-linux-gnu) with the headers of Debian's arm64 CPython 3.11,
# unpacked into a sysroot folder (tools/arm_sysroot.sh). Chosen over zig because the native checks already
# use this compiler and sysroot, its C library is the one Raspberry Pi OS ships, and CMake's toolchain file
# covers it; zig would add a second toolchain for no gain here.
#
# The wheel is cp311 only: the bindings are pybind11, which needs the full C API (no abi3 / limited API), so
# there is one wheel per Python version (cibuildwheel in pyproject.toml builds the others on real CI).
# The platform tag is what `auditwheel show` finds the extension consistent with (the highest glibc and
# libstdc++ symbol versions it needs, against the manylinux policies), checked against our own reading of the
# version needs. libstdc++ stays dynamic: linking gcc 12's libstdc++ statically pulls in glibc 2.36's
# arc4random and 2.35's _dl_find_object, which would exclude Ubuntu 22.04 (glibc 2.35; Jetson's JetPack 6).
# Build paths are mapped away (-ffile-prefix-map, EDGECV_PORTABLE) and checked absent.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-x86_64}"
case "$arch" in x86_64|aarch64|pure) ;; *) echo "usage: $0 [x86_64|aarch64|pure]" >&2; exit 2 ;; esac
root="$PWD"
venv="${EDGECV_WHEEL_VENV:-build/wheel-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -m pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.12" wheel auditwheel cmake ninja 2>&1 | grep -v "^WARNING: Location" || true
fi
py="$venv/bin/python"
mkdir -p dist
out="build/wheel-$arch/dist"
mkdir -p "build/wheel-$arch"
rm -rf "$out"
if [ "$arch" = pure ]; then  # scikit-build-core without CMake: the package's Python files and data only
  "$py" -m pip wheel . --no-deps --no-build-isolation -w "$out" -C wheel.cmake=false -C wheel.py-api=py3 \
    >"build/wheel-$arch/pip.log" 2>&1 || { tail -30 "build/wheel-$arch/pip.log" >&2; exit 1; }
  wheel=$(ls "$out"/edgecv-*-py3-none-any.whl)
  # (the listing is read whole first: `grep -q` in a pipe closes it early, and pipefail counts the writer's broken pipe)
  listing=$("$py" -m zipfile -l "$wheel")
  if grep -qE '\.(so|pyd|dylib)' <<<"$listing"; then echo "the pure wheel holds a binary" >&2; exit 1; fi
  grep -q "edgecv/manifests/yunet_n_640.json" <<<"$listing" || { echo "no manifests in $wheel" >&2; exit 1; }
  cp "$wheel" dist/
  echo "dist/$(basename "$wheel")  ($(du -k "$wheel" | cut -f1) KiB, no compiled code)"
  exit 0
fi
args=(--no-deps --no-build-isolation -w "$out" -C "build-dir=build/wheel-$arch/cmake"
      -C cmake.define.EDGECV_PORTABLE=ON -C cmake.define.EDGECV_BUILD_TESTS=OFF)
if [ "$arch" = aarch64 ]; then
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "needs g++-aarch64-linux-gnu (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu >/dev/null
  fi
  sysroot=$(bash tools/arm_sysroot.sh)
  soabi=cpython-311-aarch64-linux-gnu
  # Debian's pyconfig.h includes <aarch64-linux-gnu/python3.11/pyconfig.h>: expose just that folder (the
  # sysroot's /usr/include would also bring its own C library headers in front of the cross compiler's)
  shim="$root/build/wheel-$arch/python-include"
  mkdir -p "$shim/aarch64-linux-gnu"
  ln -sfn "$sysroot/usr/include/aarch64-linux-gnu/python3.11" "$shim/aarch64-linux-gnu/python3.11"
  args+=(-C "cmake.define.EDGECV_CROSS_PYTHON_INCLUDE=$sysroot/usr/include/python3.11;$shim"
         -C "cmake.define.EDGECV_CROSS_PYTHON_SOABI=$soabi")
  export CMAKE_TOOLCHAIN_FILE="$root/tools/toolchain-aarch64.cmake"
  readelf=aarch64-linux-gnu-readelf
  machine=AArch64
else
  unset CMAKE_TOOLCHAIN_FILE
  readelf=readelf
  machine="X86-64"
fi
"$py" -m pip wheel . "${args[@]}" >"build/wheel-$arch/pip.log" 2>&1 || { tail -30 "build/wheel-$arch/pip.log" >&2; exit 1; }
raw=$(ls "$out"/edgecv-*.whl)
check="build/wheel-$arch/check"
rm -rf "$check"
mkdir -p "$check"
(cd "$check" && "$root/$py" -m zipfile -e "$root/$raw" .)
so=$(ls "$check"/edgecv/_core.*.so)
case "$so" in *"$( [ "$arch" = aarch64 ] && echo aarch64 || echo x86_64)"*) ;; *) echo "wrong extension suffix: $so" >&2; exit 1 ;; esac
"$readelf" -h "$so" | grep -q "Machine:.*$machine" || { echo "$so is not an $arch binary" >&2; exit 1; }
needed=$("$readelf" -d "$so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
for lib in $needed; do
  case "$lib" in libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|ld-linux-*|libgcc_s.so.1|libstdc++.so.6) ;;
    *) echo "the extension needs $lib, which a manylinux wheel may not assume" >&2; exit 1 ;; esac
done
if strings -a "$so" | grep -F "$root" >/dev/null; then  # (not -q: an early exit breaks the pipe)
  echo "the extension contains the build path $root" >&2; exit 1
fi
glibc=$("$readelf" -V "$so" | grep -o "GLIBC_2\.[0-9]*" | sort -t. -k2 -n -u | tail -1)
glibcxx=$("$readelf" -V "$so" | grep -o "GLIBCXX_3\.4\.[0-9]*" | sort -t. -k3 -n -u | tail -1)
if [ "$arch" = aarch64 ]; then  # scikit-build-core named it after the build machine
  "$py" -m wheel tags --remove --platform-tag linux_aarch64 "$raw" >/dev/null
  raw=$(ls "$out"/edgecv-*linux_aarch64.whl)
fi
"$py" -m auditwheel show "$raw" >"build/wheel-$arch/auditwheel.txt" 2>&1 || {
  cat "build/wheel-$arch/auditwheel.txt" >&2; exit 1; }
tag=$(tr '\n' ' ' <"build/wheel-$arch/auditwheel.txt" | grep -o 'platform tag: *"*manylinux_2_[0-9]*_[a-z0-9_]*' |
      grep -o 'manylinux_2_[0-9]*_[a-z0-9_]*' | head -1)
[ -n "$tag" ] || { echo "auditwheel found no manylinux tag for the extension:" >&2; cat "build/wheel-$arch/auditwheel.txt" >&2; exit 1; }
minor=${tag#manylinux_2_}; minor=${minor%%_*}
[ "${glibc#GLIBC_2.}" -le "$minor" ] || { echo "auditwheel's $tag is below the extension's $glibc" >&2; exit 1; }
"$py" -m wheel tags --remove --platform-tag "$tag" "$raw" >/dev/null
wheel=$(ls "$out"/edgecv-*"$tag".whl)
cp "$wheel" dist/
size=$(du -k "$wheel" | cut -f1)
echo "dist/$(basename "$wheel")  ($size KiB; needs $needed; highest versions $glibc, ${glibcxx:-no libstdc++})"
