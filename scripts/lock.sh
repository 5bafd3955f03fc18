#!/usr/bin/env bash
# Write requirements-lock-<engine>.txt: every package of that engine's environment, pinned.
# Usage: scripts/lock.sh [cpu|gpu]. Called by `make lock ENGINE=...`.
#
# cpu: frozen from the built .venv (it is the environment set-up made on this machine).
# gpu: resolved, not installed: pip's dry run in a throwaway venv reads each package's metadata
#      from PyPI (no multi-GB CUDA wheels are downloaded), with every local pip configuration
#      ignored, so the lock names what a user's CUDA machine gets from public indexes and not
#      a wheel that only lies on this machine's disk (PyPI's torch for Linux is the CUDA build).
set -euo pipefail

engine="${1:-cpu}"
venv="${VENV:-.venv}"
python="${PYTHON:-python3}"
pip_version="24.3.1"
lock="requirements-lock-$engine.txt"
tmp="$lock.tmp"
trap 'rm -f "$tmp"' EXIT

header() {
  echo "# Every package of the $1 environment on Python 3.11 / x86_64, resolved $2."
  echo "# Used as pip constraints by 'make setup ENGINE=$engine', so two set-ups install the same"
  echo "# versions. Regenerate with 'make lock ENGINE=$engine' after changing a pin."
}

case "$engine" in
  cpu)
    { header CPU "by 'make setup' (pip freeze of .venv)"
      "$venv/bin/python" -m pip --disable-pip-version-check freeze --exclude-editable \
        | grep -v '^servegate'
    } > "$tmp"
    ;;
  gpu)
    work="$(mktemp -d)"
    trap 'rm -f "$tmp"; rm -rf "$work"' EXIT
    "$python" -m venv "$work/venv"
    # PIP_CONFIG_FILE=/dev/null: no pip.conf (local wheel folders, local caps) is read.
    clean=(env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT
           PIP_CONFIG_FILE=/dev/null "$work/venv/bin/python" -m pip --disable-pip-version-check)
    "${clean[@]}" install --quiet "pip==$pip_version"
    echo "lock: resolving the gpu engine and the suite against PyPI (metadata only; minutes)"
    "${clean[@]}" install --quiet --dry-run --ignore-installed --report "$work/report.json" \
      -r requirements-engine-gpu.txt -r requirements.txt
    { header GPU "from PyPI by 'make lock ENGINE=gpu' (pip --dry-run)"
      "$work/venv/bin/python" - "$work/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
pins = sorted(
    f"{item['metadata']['name']}=={item['metadata']['version']}"
    for item in report["install"]
    if item["metadata"]["name"] != "servegate"
)
print("\n".join(pins))
PY
    } > "$tmp"
    ;;
  *)
    echo "lock: unknown ENGINE '$engine'; use ENGINE=cpu or ENGINE=gpu" >&2
    exit 2
    ;;
esac
mv "$tmp" "$lock"
echo "lock: wrote $lock ($(grep -vc '^#' "$lock") packages)"
