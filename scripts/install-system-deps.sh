#!/usr/bin/env bash
# System packages for the tests and benchmarks: ffmpeg (test videos, burned-in subtitles
# through libass), fonts (DejaVu for Latin, Noto CJK for Chinese), and chromium with its
# driver for the review page's browser test (Selenium drives Debian's own chromium).
# vabatch itself needs none: it decodes with the FFmpeg inside opencv-python-headless, whose
# wheel links only libc, libstdc++ and zlib (no libGL, no GLib, unlike opencv-python).
set -euo pipefail
packages=(ffmpeg fonts-dejavu-core fonts-noto-cjk git chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
