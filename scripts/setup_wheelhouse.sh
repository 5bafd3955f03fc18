#!/usr/bin/env bash
# Fill .venv/wheelhouse with a wheel of every package `pip install .` needs (pyproject.toml's
# dependencies, at the lock's versions), so tests/integration/test_packaging.py can install
# servegate into a fresh virtual environment offline (`pip install --no-index`), exactly as a
# user's `pip install .` would resolve it. Called by `make wheelhouse` (and so `make test`).
set -euo pipefail

engine="${1:-cpu}"
venv="${VENV:-.venv}"
wheelhouse="$venv/wheelhouse"
constraints=()
if [ -f "requirements-lock-$engine.txt" ]; then
  constraints=(-c "requirements-lock-$engine.txt")
fi
rm -rf "$wheelhouse.partial"
echo "setup: collecting the wheels of servegate's dependencies into $wheelhouse (for the packaging test)"
set +e
"$venv/bin/python" -m pip --disable-pip-version-check wheel --quiet "${constraints[@]}" \
  --wheel-dir "$wheelhouse.partial" . setuptools wheel 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || exit "$rc"
rm -f "$wheelhouse.partial"/servegate-*.whl  # the test builds its own from the working tree
rm -rf "$wheelhouse"
mv "$wheelhouse.partial" "$wheelhouse"
