#!/usr/bin/env bash
# System packages the report and its tests need: Debian's chromium (HTML -> PDF, screenshots),
# poppler-utils (pdftotext, pdftoppm) and prometheus for its promtool (the tests check the
# generated alert rules with it). Installs them with apt-get where we run as root; elsewhere
# says how, and carries on: without a browser the HTML is still produced, without promtool the
# alert-rule tests fail and say to run this.
set -uo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (chromium, poppler-utils, promtool)"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # The prometheus package ships a server that its install would start and enable; only its
  # promtool is wanted. A policy-rc.d that denies (exit 101) keeps it from starting, unless the
  # machine already has its own policy.
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" fonts-dejavu-core >/dev/null
  status=$?
  [ -n "$own_policy" ] && rm -f "$policy"
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  [ $status -eq 0 ] && exit 0
  echo "setup: warning: apt-get could not install ${missing[*]}; the PDF report will be" \
       "skipped and the alert-rule tests fail without promtool" >&2
else
  echo "setup: warning: ${missing[*]} not installed and not root; the PDF report will be" \
       "skipped and the alert-rule tests fail without promtool. Install with:" \
       "sudo apt-get install --no-install-recommends ${missing[*]}" \
       "(then \`sudo systemctl disable --now prometheus\`: only its promtool is needed)" >&2
fi
exit 0
