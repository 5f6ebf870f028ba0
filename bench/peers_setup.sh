#!/usr/bin/env bash
# Set up the open-source peers that bench/extract_bench.py compares vabatch with.
# Idempotent: re-running only checks. Everything lands in bench/.peers/ (git-ignored),
# except Debian's tesseract packages (apt-get, needs root).
#
#   bash bench/peers_setup.sh            # all peers
#
# Peers:
#   videocr        PyPI `videocr` (tesseract via pytesseract) in its own venv, with two patches
#                  applied here (see below), never by hand.
#   rapid-videocr  PyPI `rapid-videocr` (RapidOCR) in its own venv; it reads VideoSubFinder's
#                  RGBImages/ folder, which the bench makes itself with ffmpeg + OpenCV.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEERS="$HERE/.peers"
PYTHON="${PYTHON:-python3}"
mkdir -p "$PEERS"

# --- Debian tesseract (videocr's OCR engine) ------------------------------------------------
need=()
for pkg in tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "peers_setup: need root for: apt-get install ${need[*]}" >&2
    fi
fi

# --- videocr ------------------------------------------------------------------------------
V="$PEERS/videocr"
if [ ! -x "$V/bin/python" ]; then
    "$PYTHON" -m venv "$V"
fi
"$V/bin/python" -c "import videocr" 2>/dev/null || "$V/bin/pip" install -q videocr
# Patch 1: videocr runs tesseract with --tessdata-dir ~/tessdata and, when
# <lang>.traineddata is missing there, downloads it from GitHub (no internet here). The bench
# runs videocr with HOME=bench/.peers/videocr/home, so that folder is its "~": link Debian's
# language files into its tessdata/ (the user's real ~ stays untouched).
TESSDATA_DEBIAN="$(dirname "$(ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata | head -1)")"
mkdir -p "$V/home/tessdata"
for f in "$TESSDATA_DEBIAN"/*.traineddata; do
    ln -sf "$f" "$V/home/tessdata/$(basename "$f")"
done
# Patch 2: tesseract >= 4 prints word confidences as floats ("96.276") and videocr's
# models.py does int(conf) on them: ValueError on the first word. Make it int(float(conf)).
"$V/bin/python" - <<'PY'
import pathlib
import videocr.models as m
p = pathlib.Path(m.__file__)
s = p.read_text()
old = "block_num, conf = int(block_num), int(conf)"
if old in s:
    p.write_text(s.replace(old, "block_num, conf = int(block_num), int(float(conf))"))
    print("patched", p)
elif "int(float(conf))" not in s:
    raise SystemExit(f"peers_setup: videocr changed, patch 2 no longer applies: {p}")
PY

# --- rapid-videocr ------------------------------------------------------------------------
R="$PEERS/rapid-videocr"
if [ ! -x "$R/bin/python" ]; then
    "$PYTHON" -m venv "$R"
fi
"$R/bin/python" -c "import rapid_videocr" 2>/dev/null || "$R/bin/pip" install -q rapid-videocr
echo "peers ready in $PEERS"
