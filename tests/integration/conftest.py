"""One real vLLM CPU server for the whole session, started from the embedded model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from servegate.core.environment import vllm_distribution
from servegate.server.lifecycle import VLLMServer
from servegate.server.model_artifact import ensure_model
from tests.helpers import REPO, server_config

MANIFEST = REPO / "data/models/smollm2-135m-instruct.json"


@pytest.fixture(scope="session")
def built_model() -> Path:
    """The embedded model folder, verified against its manifest (built if missing)."""
    folder, _ = ensure_model(MANIFEST)
    return folder


def _require_vllm() -> None:
    if vllm_distribution() is None:
        pytest.fail("vLLM is not installed in this environment; run `make setup` first")


@pytest.fixture(scope="session")
def vllm_server(
    built_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VLLMServer]:
    """The shared server. Teardown stops it and fails if any of its processes is left.

    Eager (no torch.compile): its tests check answers, counters, streams and the pipeline, not
    speed, and it starts in about a third of the time (76 s against 240 s on a busy 2-core
    machine), which keeps `make test` to its bar. The compiled default starts in the slow tier
    (integration/test_vllm_interrupt.py) and in every `make report`."""
    _require_vllm()
    log_dir = tmp_path_factory.mktemp("vllm-shared")
    server = VLLMServer(server_config(built_model, log_dir, enforce_eager=True))
    server.start()
    assert server.process is not None
    family = [
        psutil.Process(server.process.pid),
        *psutil.Process(server.process.pid).children(recursive=True),
    ]
    yield server
    server.stop()
    _, alive = psutil.wait_procs(family, timeout=10)
    left = [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"vLLM processes left after stop(): {left}"
