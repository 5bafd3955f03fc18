"""run.json, typed: what one benchmark run recorded about itself.

The writer (``servegate.runs.writer``) checks every run.json it writes against ``RunRecord``
and the reader (``servegate.runs.reader``) validates every run.json it reads with it, so the
two can never disagree. Numbers follow ``servegate.core.numbers`` (``+inf`` is ``"inf"``).
Unknown keys are ignored on reading, so a newer servegate's extra fields do not break an older
reader; a different ``schema_version`` is refused (see ``servegate.runs.reader``).

``params`` and ``manifest`` are typed where servegate reads them and keep every other key as
written: they describe the user's setup (benchmark parameters, machine, packages), which
grows with the tool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from servegate.core.numbers import SavedFloat
from servegate.records.level import LevelSummary
from servegate.records.quality import QualityRecord
from servegate.records.search import SearchRecord

__all__ = [
    "GitInfo",
    "ImportSource",
    "Manifest",
    "ModelInfo",
    "PromptSetInfo",
    "RecordedParams",
    "RunRecord",
    "RunState",
    "SweepSetting",
    "Target",
]

#: How a run ended, as run.json says (``running`` while it runs, and after a SIGKILL).
RunState = Literal["running", "complete", "interrupted", "server_crashed", "failed", "skipped"]


class _Open(BaseModel):
    """A saved mapping typed where servegate reads it; every other key is kept as written."""

    model_config = ConfigDict(frozen=True, extra="allow")


class RecordedParams(_Open):
    """The benchmark's parameters as recorded (secrets never are)."""

    backend: str = Field("", description="'vllm', 'openai', or the name an import gave")
    model: str = Field("", description="the model name requests were sent with")
    run_label: str = ""
    base_url: str = Field("", description="redacted: no credentials in the URL")
    timeout_s: SavedFloat = None
    max_tokens: int | None = None
    gate_concurrency: int | None = None
    prompts: str | None = None


class GitInfo(_Open):
    """The servegate checkout that made the run."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


class ModelInfo(_Open):
    """The served model: its name, and for a local model its folder and weight hashes."""

    name: str | None = None
    path: str | None = None
    sha256: str | None = None
    weights: dict[str, str] | None = None  # weight file name -> sha256


class PromptSetInfo(_Open):
    """The prompt set: its file and sha256 (for an import, the source file's hash)."""

    path: str | None = None
    sha256: str | None = None
    n_prompts: int | None = None


class ImportSource(_Open):
    """An imported run's source file: which tool wrote it, and what its figures mean.

    An import made before ``tool`` was recorded has only ``path``, ``sha256`` and ``n_rows``:
    it was a per-request CSV, so ``tool`` defaults to ``"csv"``.
    """

    path: str | None = None
    sha256: str | None = None
    n_rows: int | None = None
    tool: str = Field("csv", description="csv, vllm-bench, guidellm or aiperf")
    tool_version: str | None = Field(None, description="as the file or its tool says")
    ttft_definition: str | None = Field(
        None, description="where the tool starts and stops its time to first token"
    )
    ttft_comparable: bool = Field(
        False,
        description="the user said the tool's TTFT is servegate's (import --ttft-comparable); "
        "only then may a TTFT gate read it",
    )
    e2e_definition: str | None = Field(None, description="the tool's end-to-end latency")
    load: str | None = Field(None, description="the load the file says it ran")
    tool_summary: dict[str, float] = Field(
        default_factory=dict, description="the tool's own summary figures (ms), as saved"
    )


class Manifest(_Open):
    """Model, runtime, hardware, prompt set and git state of a run; empty for a skipped run."""

    model: ModelInfo = Field(default_factory=ModelInfo)
    prompt_set: PromptSetInfo = Field(default_factory=PromptSetInfo)
    quality_set: PromptSetInfo | None = Field(None, description="the quality checks file")
    git: GitInfo = Field(default_factory=GitInfo)
    # As servegate.core.environment described them when the run was made (Runtime, Hardware);
    # read tolerantly: a run made by an older servegate may lack a key.
    runtime: dict[str, Any] = Field(default_factory=dict)  # JSON boundary: Runtime
    hardware: dict[str, Any] = Field(default_factory=dict)  # JSON boundary: Hardware
    source: str | None = None
    source_file: ImportSource | None = Field(None, description="an imported run's source file")


class Target(BaseModel):
    """Where the requests went (the URL redacted)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    base_url: str
    model: str


class SweepSetting(_Open):
    """One setting of a sweep: its name and the server settings it changed from the base."""

    name: str
    server: dict[str, Any] = Field(default_factory=dict)  # YAML boundary: vLLM's settings


class RunRecord(BaseModel):
    """run.json: parameters, manifest, the server's story, every level's summary, and state."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = Field(description="the run.json format; see servegate.runs.reader")
    servegate_version: str | None = Field(None, description="the servegate that wrote it")
    git_commit: str | None = Field(None, description="the servegate checkout's commit")
    run_id: str = Field(min_length=1)
    state: RunState = Field(
        description="one of running, complete, interrupted, server_crashed, failed, skipped"
    )
    source: Literal["imported"] | None = Field(
        None, description="'imported' for another tool's results (servegate.runs.importer)"
    )
    created_at: AwareDatetime = Field(
        description="an ISO 8601 time with a zone, e.g. 2026-11-26T23:13:45+00:00"
    )
    updated_at: AwareDatetime | None = None
    imported_at: AwareDatetime | None = None
    finished_at_unix: SavedFloat = None
    n_request_rows: int | None = Field(None, description="rows written to requests.csv")
    params: RecordedParams = Field(default_factory=RecordedParams)
    manifest: Manifest = Field(default_factory=Manifest)
    target: Target | None = None
    levels: list[LevelSummary] = Field(default_factory=list)
    # The vLLM server's story (servegate.server.lifecycle.VLLMServer.story).
    server: dict[str, Any] | None = None  # JSON boundary: the server's story
    skipped_reason: str | None = None
    error: str | None = None
    error_kind: str | None = None
    log_tail: str | list[str] | None = None
    interrupted_by: str | None = None
    search: SearchRecord | None = Field(None, description="a capacity search's answer")
    sweep_id: str | None = Field(None, description="the sweep this run is one setting of")
    setting: SweepSetting | None = Field(None, description="that setting")
    quality: QualityRecord | None = Field(
        None, description="the quality pass's accuracy; None: no pass (quality_prompts null)"
    )

    @property
    def ttft_comparable(self) -> bool:
        """Whether ``ttft_ms`` is servegate's TTFT: always for a measured run; for an import,
        only when the user said so (``import --ttft-comparable``)."""
        if self.source != "imported":
            return True
        found = self.manifest.source_file
        return found is not None and found.ttft_comparable
