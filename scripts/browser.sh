#!/usr/bin/env bash
# The real browser the project's own tests open report.html in: the system's Chromium (Debian
# package). Installed only when missing and when this user may install packages; otherwise the
# browser tests skip and say why.
set -euo pipefail
# fonts-wqy-zenhei: the report's Chinese headings render as glyphs, not boxes, in screenshots
if (command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1) \
    && { ! command -v fc-list >/dev/null 2>&1 || fc-list :lang=zh | grep -q .; }; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and a CJK font (system packages) for the report's browser tests"
  if ! { apt-get update -qq >/dev/null \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei \
            >/dev/null; }; then
    echo "could not install chromium: the browser tests will skip and say so" >&2
  fi
else
  echo "no chromium and no way to install it here: the browser tests will skip" >&2
fi
