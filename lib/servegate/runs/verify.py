"""Re-check a past run's manifest against this machine now: can the run be reproduced here?

``verify_run`` recomputes what a run recorded (the model's weight hashes, the prompt set's hash,
the runtime and package versions, the hardware, the code's commit) and lists every item with its
recorded and current value. Nothing is judged "close enough": a different patch version of
vLLM or a re-quantized model is exactly what makes two runs disagree, so every difference is
named and the caller decides (``make verify`` exits 1 when anything differs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servegate.core.environment import collect_environment
from servegate.core.errors import RunFolderError
from servegate.core.fsutil import sha256_file
from servegate.core.paths import project_root, resolve_path
from servegate.records.run import Manifest, ModelInfo, PromptSetInfo
from servegate.runs.reader import RunData, list_runs, load_run

__all__ = ["Check", "VerifyResult", "latest_run_dir", "verify_run"]


@dataclass(frozen=True)
class Check:
    """One recorded item and what it is now; ``current`` None means it is missing now."""

    area: str
    item: str
    recorded: str
    current: str | None
    note: str = ""

    @property
    def same(self) -> bool:
        return self.current == self.recorded


@dataclass(frozen=True)
class VerifyResult:
    run_id: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    @property
    def differences(self) -> list[Check]:
        return [c for c in self.checks if not c.same]

    @property
    def ok(self) -> bool:
        return not self.differences

    def text(self) -> str:
        """A report for the terminal: differences first, then how many items matched."""
        lines = [f"verify {self.run_id}: {len(self.checks)} items checked"]
        for c in self.differences:
            now = "missing" if c.current is None else c.current
            lines.append(f"  DIFFERS  {c.area}: {c.item}: recorded {c.recorded}, now {now}")
            if c.note:
                lines.append(f"           {c.note}")
        lines.extend(f"  note     {note}" for note in self.notes)
        same = len(self.checks) - len(self.differences)
        verdict = (
            "same environment: every recorded item matches"
            if self.ok
            else f"{len(self.differences)} item(s) differ, {same} match"
        )
        lines.append(f"  {verdict}")
        return "\n".join(lines)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _model_checks(model: ModelInfo, repo_dir: Path) -> Iterator[Check]:
    weights = model.weights or {}
    folder = resolve_path(model.path or "", root=repo_dir)
    for name, digest in sorted(weights.items()):
        path = folder / name
        now = sha256_file(path) if path.is_file() else None
        hint = "" if now else f"{path} is missing; `make model` rebuilds the embedded model"
        yield Check("model", f"{model.path}/{name} sha256", str(digest), now, hint)


def _prompt_check(prompts: PromptSetInfo, repo_dir: Path) -> Iterator[Check]:
    if not prompts.path:
        return
    path = resolve_path(prompts.path, root=repo_dir)
    now = sha256_file(path) if path.is_file() else None
    yield Check("prompt set", f"{prompts.path} sha256", _text(prompts.sha256), now)


def _flat(prefix: str, recorded: Mapping[str, Any], current: Mapping[str, Any]) -> Iterator[Check]:
    for key, value in recorded.items():
        if isinstance(value, Mapping | list):
            continue  # nested parts are checked by their own rules
        now = current.get(key)
        yield Check(prefix, key, _text(value), None if now is None and value else _text(now))


def _gpus(hardware: Mapping[str, Any]) -> str:
    names = sorted(str(g.get("name")) for g in hardware.get("gpus") or [])
    return ", ".join(names) or "none"


def _environment_checks(manifest: Manifest, now: Mapping[str, Any]) -> Iterator[Check]:
    runtime, runtime_now = manifest.runtime, now["runtime"]
    yield from _flat("runtime", runtime, runtime_now)
    packages_now = runtime_now.get("packages") or {}
    for name, version in sorted((runtime.get("packages") or {}).items()):
        yield Check("package", name, _text(version), _text(packages_now.get(name)) or None)
    hardware, hardware_now = manifest.hardware, now["hardware"]
    # Memory as the OS reports it moves by a few MiB between boots; GiB is what matters.
    keep = {k: v for k, v in hardware.items() if k != "memory_total_gib"}
    yield from _flat("hardware", keep, hardware_now)
    if "memory_total_gib" in hardware:
        yield Check(
            "hardware",
            "memory_total_gib (rounded)",
            f"{float(hardware['memory_total_gib']):.0f}",
            f"{float(hardware_now['memory_total_gib']):.0f}",
        )
    yield Check("hardware", "GPUs", _gpus(hardware), _gpus(hardware_now))
    git, git_now = manifest.git, now["git"]
    if git.commit:
        yield Check("code", "git commit", git.commit, _text(git_now.get("commit")))
        yield Check(
            "code",
            "uncommitted changes",
            _text(git.dirty),
            _text(git_now.get("dirty")),
            "the run was made with uncommitted changes: its exact code is not in git"
            if git.dirty
            else "",
        )


def verify_run(
    run_dir: str | Path,
    repo_dir: str | Path | None = None,
    environment: Callable[[], Mapping[str, Any]] | None = None,
) -> VerifyResult:
    """Compare run ``run_dir``'s manifest with this machine and checkout now.

    :param repo_dir: the project the run's relative paths (model, prompts) are resolved in; the
        project root (``servegate.core.paths``) by default, whatever the working directory.
    :param environment: what ``servegate.core.environment.collect_environment`` returns, for tests.
    :raises RunFolderError: when the run folder cannot be read.
    """
    repo = Path(repo_dir) if repo_dir is not None else project_root()
    run = load_run(run_dir)
    manifest = run.record.manifest
    if not run.manifest:  # nothing was recorded: a skipped run
        raise RunFolderError(
            f"run {run.run_id} has no manifest (state {run.state}: it never reached the server); "
            "verify a run that measured something",
            run_dir=str(run.run_dir),
        )
    now = (environment or (lambda: collect_environment(repo)))()
    checks = [
        *_model_checks(manifest.model, repo),
        *_prompt_check(manifest.prompt_set, repo),
        *_environment_checks(manifest, now),
    ]
    notes = []
    if not manifest.model.weights:
        notes.append(
            f"model {run.model!r} is served by {run.backend}, not from local weights: "
            "the provider can change it without notice, so it cannot be verified"
        )
    if run.record.params.base_url and run.backend == "vllm":
        notes.append(
            "the server was attached by base_url: the runtime checked is this machine's, "
            "not necessarily the server's"
        )
    return VerifyResult(run.run_id, tuple(checks), tuple(notes))


def latest_run_dir(results_dir: str | Path, backend: str = "vllm") -> Path:
    """The newest readable run of ``backend`` with a manifest, for ``make verify``'s default."""
    runs: list[RunData] = list_runs(results_dir)[0]  # oldest first
    for run in reversed(runs):
        if run.backend == backend and run.manifest:
            return run.run_dir
    raise RunFolderError(
        f"no {backend} run with a manifest under {results_dir}; run `make report` first or "
        "pass a run folder: make verify RUN=eval/results/<run_id>",
        run_dir=str(results_dir),
    )
