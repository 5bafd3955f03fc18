"""Helpers shared by test modules: repository paths, the fixture runs and copies of them to damage.

Test modules import shared helpers from here and never from each other; fixtures live in the
conftest.py files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servegate.server.launch import ServerConfig

__all__ = [
    "FIXTURES",
    "FIXTURE_RUNS",
    "HOSTED_RUN",
    "PRICING",
    "REPO",
    "SKIPPED_RUN",
    "VLLM_RUN",
    "clone_run",
    "copy_fixtures",
    "edit_json",
    "make_killed_run",
    "server_config",
]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PRICING = REPO / "data" / "pricing.yaml"

# --- the fixture runs --------------------------------------------------------------------------

FIXTURE_RUNS = FIXTURES / "runs"
VLLM_RUN = "20261126T231345Z_try_vllm"
HOSTED_RUN = "20261126T232125Z_hosted-fixture_openai"
SKIPPED_RUN = "20261126T232143Z_hosted-skip_openai"


def copy_fixtures(dest: Path) -> Path:
    """The three fixture runs copied under ``dest`` (the fixtures themselves stay untouched)."""
    dest.mkdir(parents=True, exist_ok=True)
    for run in (VLLM_RUN, HOSTED_RUN, SKIPPED_RUN):
        shutil.copytree(FIXTURE_RUNS / run, dest / run)
    return dest


def clone_run(src: str, dest_root: Path, new_id: str) -> Path:
    """A copy of fixture run ``src`` under a new run id (in run.json and every CSV row)."""
    folder = dest_root / new_id
    shutil.copytree(FIXTURE_RUNS / src, folder)
    for name in ("run.json", "requests.csv"):
        path = folder / name
        path.write_text(path.read_text().replace(src, new_id))
    return folder


def edit_json(folder: Path, **fields: object) -> dict:
    """Set ``fields`` at the top level of the run.json in ``folder``; return the new record."""
    record = json.loads((folder / "run.json").read_text())
    record.update(fields)
    (folder / "run.json").write_text(json.dumps(record))
    return record


def make_killed_run(dest_root: Path, new_id: str = "20261126T235900Z_killed_vllm") -> Path:
    """The vLLM fixture as if SIGKILLed 10 requests into level c8, mid-way through a row.

    run.json still says "running" and holds only the c1 summary (the last one written before
    the kill); requests.csv holds c1, 10 rows of c8, and a torn 11th row.
    """
    folder = clone_run(VLLM_RUN, dest_root, new_id)
    record = json.loads((folder / "run.json").read_text())
    record.update(state="running", levels=record["levels"][:1], n_request_rows=6)
    record["created_at"] = "2026-11-26T23:59:00+00:00"
    for key in ("finished_at_unix", "server"):
        record.pop(key, None)
    (folder / "run.json").write_text(json.dumps(record))
    lines = (folder / "requests.csv").read_text().splitlines(keepends=True)
    kept = [*lines[: 1 + 6 + 10], lines[17][:40]]  # header, c1, 10 rows of c8, a torn row
    (folder / "requests.csv").write_text("".join(kept))
    return folder


# --- the real vLLM server (tests/integration) ---------------------------------------------------


def server_config(model: Path, log_dir: Path, **overrides: object) -> ServerConfig:
    """The test servers' settings: small KV cache, no progress bar, one warm-up request."""
    # Imported here: the server modules take half a second to import, and most tests never
    # start a server.
    from servegate.server.launch import ServerConfig

    settings: dict[str, object] = {
        "model": model,
        "log_path": log_dir / "vllm.log",
        "kv_cache_space_gib": 1,
        "max_model_len": 2048,
        "warmup_requests": 1,
        "progress": False,
    }
    settings.update(overrides)
    return ServerConfig.from_params(settings)
