#!/usr/bin/env bash
# More of Debian's free fonts for the random looks of bench/extract_bench.py --random
# (testkit/looks.py draws a caption font from every sans, serif and CJK family that
# `fc-list` finds when the videos are made). Idempotent: installs only what is missing and
# only as root; otherwise it says what it would install. Not part of
# scripts/install-system-deps.sh on purpose: CI does not need these (it would only cost time).
#
#   bash bench/looks_setup.sh
set -euo pipefail
packages=(
    fonts-liberation2 fonts-freefont-ttf fonts-noto-core fonts-noto-ui-core
    fonts-roboto-unhinted fonts-open-sans fonts-urw-base35 fonts-lato
    fonts-crosextra-carlito fonts-crosextra-caladea fonts-dejavu-extra
    # CJK beyond Noto: WenQuanYi (sans, simplified and traditional), AR PL (serif Ming and Kai)
    fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming fonts-arphic-ukai
)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
    echo "looks_setup: all ${#packages[@]} font packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "looks_setup: need root for: apt-get install ${missing[*]}" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fc-cache -f >/dev/null
echo "looks_setup: installed ${missing[*]}"
