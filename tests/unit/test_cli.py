"""The servegate command: one clear error line and exit code 2 on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from servegate.cli import main
from servegate.core.errors import ModelArtifactError
from servegate.server.lifecycle import ServerConfig, VLLMServer


def test_model_verify_with_a_missing_manifest_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "verify", "--manifest", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("servegate: error: model manifest") and "\n" not in err


def test_smoke_with_an_unknown_server_parameter_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("model_path: data/models/x\nserver:\n  kv_cache_gib: 2\n")
    assert main(["smoke", "--params", str(params)]) == 2
    assert "unknown parameter 'kv_cache_gib'" in capsys.readouterr().err


def test_smoke_with_a_params_file_that_is_not_a_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("- a\n- b\n")
    assert main(["smoke", "--params", str(params)]) == 2
    assert "must hold a mapping of name: value, got list" in capsys.readouterr().err


def test_a_missing_model_folder_stops_before_any_process_starts(tmp_path: Path) -> None:
    server = VLLMServer(ServerConfig(model=tmp_path / "absent"))
    with pytest.raises(ModelArtifactError, match="does not exist; run `make model`"):
        server.start()
    assert server.process is None
