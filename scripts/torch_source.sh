#!/usr/bin/env bash
# Where `make setup` takes the CPU torch from: prints `installed`, `local` (a wheel in pip's
# find-links folders: no network) or the index URL ($TORCH_INDEX_URL, default PyTorch's CPU
# index). Only the local check runs here, offline (`--no-index`), so a machine that cannot
# reach the index never waits on it.
# Usage: scripts/torch_source.sh PYTHON 'torch==2.13.0+cpu'
set -euo pipefail
python="$1"
pin="$2"
if "$python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("torch") != sys.argv[1])' \
     "${pin#torch==}" 2>/dev/null; then
  echo installed
elif "$python" -m pip --disable-pip-version-check install --quiet --dry-run --no-index --no-deps \
       "$pin" >/dev/null 2>&1; then
  echo local
else
  echo "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
fi
