#!/usr/bin/env bash
# Screenshot a report's HTML page in headless Chromium (installs chromium with apt-get when missing).
#
#   scripts/screenshot_report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
#
# Exits non-zero when Chromium fails to render the page. Needs root (or sudo) only for the install.
set -euo pipefail

html="${1:?usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]}"
png="${2:-${html%.html}.png}"
size="${3:-1200x900}"
[ -f "$html" ] || { echo "error: $html does not exist" >&2; exit 2; }

find_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
exe="$(find_chromium)"
if [ -z "$exe" ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "chromium not found; installing with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  exe="$(find_chromium)"
  [ -n "$exe" ] || { echo "error: chromium install failed" >&2; exit 1; }
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
url="file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
"$exe" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$profile" --screenshot="$png" \
  --window-size="${size/x/,}" "$url" 2> >(grep -v -E "dbus|Fontconfig" >&2 || true)
[ -s "$png" ] || { echo "error: no screenshot written to $png" >&2; exit 1; }
echo "screenshot: $png"
