#!/usr/bin/env bash
# System packages: libgl1 and libglib2.0-0 (opencv-python needs them to import); for
# the tests and benchmarks, ffmpeg (test videos, burned-in
# subtitles through libass) and fonts (DejaVu for Latin, Noto CJK for Chinese).
# vabatch itself decodes with the FFmpeg inside opencv-python and needs no ffmpeg binary.
set -euo pipefail
packages=(ffmpeg fonts-dejavu-core fonts-noto-cjk git libgl1 libglib2.0-0)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
