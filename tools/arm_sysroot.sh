#!/usr/bin/env bash
# An aarch64 Debian sysroot with CPython 3.11 (interpreter, standard library, headers), made from Debian's
# arm64 packages unpacked into a folder: nothing is installed on this machine but the package lists of the
# arm64 architecture. `qemu-aarch64 -L SYSROOT SYSROOT/usr/bin/python3.11` runs the interpreter; the headers
# build edgecv's extension for aarch64 (tools/build_wheel.sh). Cached by the package list; prints its path.
#
#   bash tools/arm_sysroot.sh            -> /root/.cache/edgecv-arm/sysroot-<hash>
# EDGECV_ARM_CACHE overrides the cache folder.
set -euo pipefail
cache="${EDGECV_ARM_CACHE:-$HOME/.cache/edgecv-arm}"
roots="python3.11:arm64 libpython3.11-dev:arm64 libpython3.11-stdlib:arm64 libstdc++6:arm64 libgomp1:arm64"
key=$(echo "$roots v2" | sha256sum | cut -c1-12)
sysroot="$cache/sysroot-$key"
if [ -x "$sysroot/usr/bin/python3.11" ] && [ -f "$sysroot/.complete" ]; then
  echo "$sysroot"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "making the arm64 sysroot needs root once (dpkg --add-architecture arm64; apt-get update)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  apt-get update -qq
fi
debs="$cache/debs-$key"
mkdir -p "$debs"
# every package the roots need (Depends and PreDepends, recursively), as arm64 or arch-independent packages
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $roots 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u)
# packaging machinery (perl, debconf, dpkg) is not needed to run Python from an unpacked folder
skip='^(perl.*|debconf.*|dpkg|tar|install-info|libperl.*|tzdata)$'
cd "$debs"
for p in "${pkgs[@]}"; do
  name="${p%%:*}"
  [[ "$name" =~ $skip ]] && continue
  case "$p" in *:*) [ "${p#*:}" = arm64 ] || continue ;; esac
  ls "$debs/${name}"_*.deb >/dev/null 2>&1 && continue
  # arm64 build if there is one, else the architecture-independent package
  apt-get download -qq "$name:arm64" >/dev/null 2>&1 || apt-get download -qq "$name" >/dev/null 2>&1 || {
    echo "cannot download $name" >&2; exit 1; }
done
cd - >/dev/null
tmp="$sysroot.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
for deb in "$debs"/*.deb; do
  dpkg-deb -x "$deb" "$tmp"
done
# Debian's merged /usr: the loader and libraries are looked up under /lib
for d in lib bin sbin; do
  if [ -d "$tmp/usr/$d" ] && [ ! -e "$tmp/$d" ]; then ln -s "usr/$d" "$tmp/$d"; fi
done
# qemu-user 7.2 hands the guest this machine's x86 /proc/cpuinfo; ONNX Runtime's CPU detection (the cpuinfo
# library) finds no ARM core in it and dereferences NULL while reading the caches: a segfault on import. qemu
# opens absolute paths under -L first when they exist there, so an ARM description here fixes it: one
# Neoverse-N1 entry per core of this machine.
mkdir -p "$tmp/proc"
for ((i = 0; i < $(nproc); i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$i"
done >"$tmp/proc/cpuinfo"
touch "$tmp/.complete"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
echo "$sysroot"
