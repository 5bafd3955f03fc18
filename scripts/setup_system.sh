#!/usr/bin/env bash
# System packages the report needs: Debian's chromium (HTML -> PDF, screenshots) and
# poppler-utils (pdftotext, pdftoppm). Installs them with apt-get where we run as root;
# elsewhere says how, and carries on: without a browser the HTML is still produced.
set -uo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (chromium, poppler-utils)"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends \
       "${missing[@]}" fonts-dejavu-core >/dev/null; then
    exit 0
  fi
  echo "setup: warning: apt-get could not install ${missing[*]}; the PDF report will be skipped" >&2
else
  echo "setup: warning: ${missing[*]} not installed and not root; the PDF report will be" \
       "skipped. Install with: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
