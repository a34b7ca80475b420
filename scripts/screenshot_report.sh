#!/usr/bin/env bash
# Screenshot a (self-contained) HTML report with headless Chromium.
#   scripts/screenshot_report.sh reports/claims.html [OUT.png] [WIDTH,HEIGHT]
# Needs Debian's chromium (apt-get install -y chromium). Network-related features are off;
# the page itself must not fetch anything.
set -euo pipefail
html="${1:?usage: $0 REPORT.html [OUT.png] [WIDTH,HEIGHT]}"
out="${2:-${html%.html}.png}"
size="${3:-1400,3000}"
bin="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$bin" ] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 1; }
abs="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --window-size="$size" \
  --screenshot="$out" "file://$abs" >/dev/null 2>&1
[ -s "$out" ] || { echo "no screenshot written to $out" >&2; exit 1; }
echo "$out"
