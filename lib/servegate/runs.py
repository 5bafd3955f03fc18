"""Reading run folders back: run.json and requests.csv, validated, into a ``RunData``.

A run folder (``eval/results/<run_id>/``, written by ``servegate.runrecord``) is trusted only
after it is checked: run.json must be a JSON object of schema version
``servegate.schema.RUN_SCHEMA_VERSION``, and requests.csv must have exactly the header
``servegate.schema.REQUEST_COLUMNS``, a whole last line, numbers where numbers belong and a
known status on every row. Anything else raises ``RunFolderError`` naming the folder, the file,
the line and the fix; ``list_runs`` turns that into a (folder, reason) pair so that one broken
folder never hides the others.

A run killed with SIGKILL keeps ``state: "running"`` in run.json (nothing could rewrite it)
while requests.csv holds every request that finished. It is still readable: ``incomplete`` is
True, a torn last row (a write cut by the kill) is dropped with a note, and each level that has
rows but no summary in run.json is summarized again from requests.csv (``recomputed_levels``).

An imported run (run.json ``source: "imported"``, written by ``servegate.importer`` from another
tool's CSV) has only statuses and end-to-end times: its queue, due and end times are empty, as
is the end-to-end time of a failed request whose source gave none.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servegate.errors import ConfigError, RunFolderError, StatsInputError
from servegate.schema import (
    IMPORTED_SOURCE,
    REQUEST_COLUMNS,
    REQUESTS_CSV,
    RUN_JSON,
    RUN_SCHEMA_VERSION,
    RUN_STATES,
    STATUSES,
)
from servegate.stats import throughput_ci
from servegate.summary import latency_block

__all__ = ["RunData", "as_float", "list_runs", "load_run"]

log = logging.getLogger(__name__)

#: requests.csv columns parsed as floats (ms, s, req/s) and as whole numbers.
FLOAT_COLUMNS = (
    "request_rate",
    "queue_ms",
    "ttft_ms",
    "e2e_ms",
    "itl_mean_ms",
    "tpot_ms",
    "due_s",
    "end_s",
    "itl_max_ms",
)
INT_COLUMNS = (
    "concurrency",
    "http_status",
    "input_tokens",
    "output_tokens",
    "seq",
    "n_content_chunks",
)
#: Columns the writer always fills, on every row, failures included.
REQUIRED_COLUMNS = ("run_id", "status", "level", "queue_ms", "e2e_ms", "due_s", "end_s")
#: An imported run's source had no clock and no queue: only these are always there.
IMPORTED_REQUIRED_COLUMNS = ("run_id", "status", "level")

_FIX_EDITED = (
    "the file was edited or damaged after the run; restore it from a copy, or delete the "
    "run folder and run the benchmark again"
)


def as_float(value: Any) -> float | None:
    """A number from run.json as a float: ``"inf"``/``"-inf"`` back to ``±inf``, null to None.

    ``servegate.fsutil.json_safe`` writes ``+inf`` (a percentile among failed requests) as the
    string ``"inf"`` and NaN as null; this undoes it. NaN comes back as None ("no value").

    :raises ValueError: for a bool or a string that is not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(
                f"expected a number or 'inf', got the string {value!r}; "
                "check the run.json it came from"
            ) from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r:.60}")
    return None if math.isnan(number) else number


@dataclass(frozen=True, eq=False)
class RunData:
    """One run folder read back and validated.

    :param run_dir: the folder.
    :param record: run.json as written, except that the ``value``/``ci_low``/``ci_high`` of
        every estimate are floats again (``"inf"`` -> ``inf``, see ``as_float``).
    :param requests: requests.csv, one row per measured request, columns
        ``servegate.schema.REQUEST_COLUMNS``; floats (NaN where empty), nullable ``Int64``
        counts, strings ("" where empty).
    :param incomplete: True when run.json does not describe every request in requests.csv:
        the run was killed (its state is still ``"running"``) or stopped mid-level.
    :param recomputed_levels: summaries, rebuilt from requests.csv, of levels that have rows but
        no summary in run.json; same keys as run.json's levels plus
        ``"recomputed_from": "requests.csv"``, with ``itl_pooled_ms`` None (the per-token gaps
        are not in the CSV).
    :param notes: what was repaired on reading (a torn last row dropped), for the report.
    """

    run_dir: Path
    record: dict[str, Any]
    requests: pd.DataFrame
    incomplete: bool = False
    recomputed_levels: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def params(self) -> dict[str, Any]:
        """The benchmark parameters as recorded (no secrets); ``{}`` when absent."""
        return dict(self.record.get("params") or {})

    @property
    def backend(self) -> str:
        """``"vllm"`` or ``"openai"``: from params, else the run id's last part."""
        return str(self.params.get("backend") or self.run_id.rsplit("_", 1)[-1])

    @property
    def model(self) -> str:
        """The model name requests were sent with."""
        target = self.record.get("target") or {}
        return str(self.params.get("model") or target.get("model") or "")

    @property
    def label(self) -> str:
        return str(self.params.get("run_label") or "")

    @property
    def state(self) -> str:
        """How run.json says the run ended (``servegate.schema.RUN_STATES``)."""
        return str(self.record["state"])

    @cached_property
    def created_at(self) -> datetime:
        """When the run started (timezone-aware, from run.json's ``created_at``)."""
        return _parse_time(self.record["created_at"])

    @property
    def levels(self) -> list[dict[str, Any]]:
        """Every level's summary: run.json's, then those recomputed from requests.csv."""
        return [*self.record.get("levels", []), *self.recomputed_levels]

    @property
    def manifest(self) -> dict[str, Any]:
        """Model, runtime, hardware, prompt set and git state; ``{}`` for a skipped run."""
        return dict(self.record.get("manifest") or {})


def load_run(run_dir: str | Path) -> RunData:
    """Read and validate one run folder (see the module doc).

    :raises RunFolderError: when run.json or requests.csv is missing, not parseable, of another
        schema version, or edited (wrong header, torn row, text where a number belongs, unknown
        status, rows that disagree with run.json's counts).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(
            f"run folder {run_dir} does not exist or is not a folder; pass a folder under "
            "results_dir, e.g. eval/results/<run_id>",
            run_dir=str(run_dir),
        )
    record = _read_run_json(run_dir)
    state = record["state"]
    frame, notes = _read_requests(run_dir, record)
    recomputed = _reconcile_levels(run_dir, record, frame)
    incomplete = state == "running" or bool(recomputed) or bool(notes)
    return RunData(run_dir, record, frame, incomplete, tuple(recomputed), tuple(notes))


def list_runs(results_dir: str | Path) -> tuple[list[RunData], list[tuple[Path, str]]]:
    """Every run folder under ``results_dir``, oldest first, and the broken ones with reasons.

    Folders whose name starts with ``.`` are ignored. A folder that cannot be read is logged as a
    warning and returned as ``(folder, reason)``; it never stops the others from loading. Runs
    are sorted by ``created_at``, then run id.

    :raises ConfigError: when ``results_dir`` does not exist.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigError(
            f"results_dir {results_dir} does not exist; run a benchmark first "
            "(make bench PARAMS=params/cpu_default.yaml) or pass the folder that holds the runs"
        )
    runs: list[RunData] = []
    broken: list[tuple[Path, str]] = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        try:
            runs.append(load_run(folder))
        except RunFolderError as exc:
            broken.append((folder, str(exc)))
        except Exception as exc:  # a bug must not hide every other run either
            log.debug("unexpected error reading %s", folder, exc_info=True)
            broken.append((folder, f"unexpected {type(exc).__name__} while reading it: {exc}"))
        else:
            continue
        log.warning("skipping run folder %s: %s", folder, broken[-1][1])
    runs.sort(key=lambda r: (r.created_at, r.run_id, r.run_dir.name))
    unique: dict[str, RunData] = {}
    for run in runs:
        first = unique.setdefault(run.run_id, run)
        if first is not run:  # a copied folder would count every request twice
            reason = (
                f"run_id {run.run_id!r} was already read from {first.run_dir}; the folder is a "
                "copy: delete one of them"
            )
            log.warning("skipping run folder %s: %s", run.run_dir, reason)
            broken.append((run.run_dir, reason))
    return list(unique.values()), broken


# --- run.json ---------------------------------------------------------------------------------


def _parse_time(text: Any) -> datetime:
    stamp = datetime.fromisoformat(str(text))
    if stamp.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return stamp


def _read_run_json(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_JSON

    def fail(problem: str, fix: str = _FIX_EDITED) -> RunFolderError:
        return RunFolderError(f"{path}: {problem}; {fix}", run_dir=str(run_dir), file=RUN_JSON)

    if not path.is_file():
        raise fail(
            "run.json is missing",
            "the run was killed before it wrote its first record, or the file was deleted; "
            "delete the folder and run the benchmark again",
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(record, dict):
        raise fail(f"must hold a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version != RUN_SCHEMA_VERSION:
        raise fail(
            f"schema_version is {version!r}, this servegate reads version {RUN_SCHEMA_VERSION}",
            "read it with the servegate version that wrote it, or run the benchmark again",
        )
    if not isinstance(record.get("run_id"), str) or not record["run_id"]:
        raise fail(f"run_id must be a non-empty string, got {record.get('run_id')!r}")
    if record.get("state") not in RUN_STATES:
        raise fail(f"state must be one of {list(RUN_STATES)}, got {record.get('state')!r}")
    try:
        _parse_time(record.get("created_at"))
    except (TypeError, ValueError):
        raise fail(
            "created_at must be an ISO 8601 time with a zone, e.g. 2026-11-26T23:13:45+00:00, "
            f"got {record.get('created_at')!r}"
        ) from None
    levels = record.setdefault("levels", [])
    if not isinstance(levels, list):
        raise fail(f"levels must be a list, got {type(levels).__name__}")
    for i, level in enumerate(levels):
        if not isinstance(level, dict) or not isinstance(level.get("level"), str):
            raise fail(f"levels[{i}] must be an object with a 'level' name, got {level!r:.80}")
        if not isinstance(level.get("n_requests"), int) or isinstance(level["n_requests"], bool):
            raise fail(
                f"levels[{i}].n_requests must be an integer, got {level.get('n_requests')!r}"
            )
    for key in ("params", "manifest"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise fail(f"{key} must be an object, got {type(record[key]).__name__}")
    try:
        return _restore_estimates(record)
    except ValueError as exc:
        raise fail(f"an estimate is not a number ({exc})") from None


def _restore_estimates(obj: Any) -> Any:
    """Turn ``value``/``ci_low``/``ci_high`` of every estimate dict back into floats."""
    if isinstance(obj, dict):
        out = {k: _restore_estimates(v) for k, v in obj.items()}
        if "value" in out and "ci_low" in out and "ci_high" in out:
            for key in ("value", "ci_low", "ci_high"):
                out[key] = as_float(out[key])
        return out
    if isinstance(obj, list):
        return [_restore_estimates(v) for v in obj]
    return obj


# --- requests.csv -----------------------------------------------------------------------------


def _empty_requests() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in REQUEST_COLUMNS}), [])


def _read_requests(run_dir: Path, record: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    path = run_dir / REQUESTS_CSV
    state = record["state"]

    def fail(problem: str, line: int | None = None, fix: str = _FIX_EDITED) -> RunFolderError:
        where = f"{path} line {line}" if line else str(path)
        return RunFolderError(
            f"{where}: {problem}; {fix}", run_dir=str(run_dir), file=REQUESTS_CSV, line=line
        )

    if not path.is_file():
        if state == "skipped":
            return _empty_requests(), []
        raise fail(
            "requests.csv is missing",
            fix="the run folder is incomplete; delete it and run the benchmark again",
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise fail("is not UTF-8 text", line) from None
    except OSError as exc:
        raise fail(f"cannot be read ({exc.strerror})") from None
    if not text:
        raise fail("is empty, not even a header")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise fail(f"the header cannot be parsed ({exc})", 1) from None
    if header != list(REQUEST_COLUMNS):
        missing = [c for c in REQUEST_COLUMNS if c not in header]
        extra = [c for c in header if c not in REQUEST_COLUMNS]
        parts = [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        detail = "; ".join(parts)
        raise fail(
            f"the header must be exactly servegate's {len(REQUEST_COLUMNS)} request columns "
            f"({detail or 'same names, different order'})",
            1,
        )
    rows: list[list[str]] = []
    lines: list[int] = []
    notes: list[str] = []
    end_line = 1
    torn = not text.endswith("\n")
    try:
        for fields in reader:
            start_line, end_line = end_line + 1, reader.line_num
            rows.append(fields)
            lines.append(start_line)
    except csv.Error as exc:
        raise fail(f"cannot be parsed as CSV ({exc})", end_line + 1) from None
    if torn and rows:
        if state != "running":
            raise fail(
                f"the last line is cut mid-row (no line end; {len(rows[-1])} of "
                f"{len(REQUEST_COLUMNS)} fields), so the file was truncated",
                lines[-1],
            )
        # A SIGKILL can land in the middle of a row's write: drop that row, keep the rest.
        notes.append(f"requests.csv line {lines[-1]} was cut mid-row by the kill and was dropped")
        log.warning("%s: %s", run_dir, notes[-1])
        rows.pop()
        lines.pop()
    for fields, line in zip(rows, lines, strict=True):
        if len(fields) != len(REQUEST_COLUMNS):
            raise fail(
                f"has {len(fields)} fields, expected {len(REQUEST_COLUMNS)} "
                "(a row cut short, or a stray comma or line break)",
                line,
            )
    frame = pd.DataFrame(rows, columns=list(REQUEST_COLUMNS), dtype=object)
    imported = record.get("source") == IMPORTED_SOURCE
    frame = _typed(frame, lines, fail, IMPORTED_REQUIRED_COLUMNS if imported else REQUIRED_COLUMNS)
    bad_id = frame.index[frame["run_id"] != record["run_id"]]
    if len(bad_id):
        i = int(bad_id[0])
        raise fail(
            f"run_id is {frame.at[i, 'run_id']!r}, but run.json says {record['run_id']!r} "
            "(rows from another run were pasted in)",
            lines[i],
        )
    return frame, notes


def _typed(
    frame: pd.DataFrame,
    lines: list[int],
    fail: Any = None,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    """Validate and convert requests.csv's text cells; ``fail(problem, line)`` makes the error."""
    out = pd.DataFrame(index=frame.index)

    def first_bad(mask: pd.Series, column: str, expected: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask.to_numpy())[0])
            others = int(mask.sum()) - 1
            more = f" ({others} more row(s) like it)" if others else ""
            raise fail(
                f"column {column!r} {expected}, got {frame[column].iat[i]!r}{more}", lines[i]
            )

    for column in required:
        first_bad(frame[column] == "", column, "must not be empty")
    for column in REQUEST_COLUMNS:
        text = frame[column]
        if column in FLOAT_COLUMNS or column in INT_COLUMNS:
            number = pd.to_numeric(text.where(text != ""), errors="coerce").astype(float)
            first_bad((text != "") & ~np.isfinite(number), column, "must be a finite number")
            if column in INT_COLUMNS:
                first_bad(number.notna() & (number % 1 != 0), column, "must be a whole number")
                out[column] = number.astype("Int64")
            else:
                out[column] = number
        else:
            out[column] = text.astype(str)
    first_bad(~out["status"].isin(STATUSES), "status", f"must be one of {list(STATUSES)}")
    return out


# --- levels -----------------------------------------------------------------------------------


def _reconcile_levels(
    run_dir: Path, record: dict[str, Any], frame: pd.DataFrame
) -> list[dict[str, Any]]:
    """Check run.json's levels against the rows; summarize levels that only have rows."""
    counts = frame.groupby("level", sort=False).size()
    summarized = {level["level"]: level for level in record["levels"]}
    for name, level in summarized.items():
        found = int(counts.get(name, 0))
        if found != level["n_requests"]:
            raise RunFolderError(
                f"{run_dir / REQUESTS_CSV}: level {name!r} has {found} rows but run.json counts "
                f"{level['n_requests']} requests; {_FIX_EDITED}",
                run_dir=str(run_dir),
                file=REQUESTS_CSV,
            )
    expected = record.get("n_request_rows")
    if isinstance(expected, int) and record["state"] != "running" and expected != len(frame):
        raise RunFolderError(
            f"{run_dir / REQUESTS_CSV}: has {len(frame)} rows but run.json says the run wrote "
            f"{expected}; {_FIX_EDITED}",
            run_dir=str(run_dir),
            file=REQUESTS_CSV,
        )
    timeout_s = (record.get("params") or {}).get("timeout_s")
    recomputed = []
    for name in counts.index:
        if name not in summarized:
            rows = frame[frame["level"] == name]
            try:
                recomputed.append(_summarize_rows(str(name), rows, timeout_s))
            except StatsInputError as exc:
                raise RunFolderError(
                    f"{run_dir / REQUESTS_CSV}: level {name!r} cannot be summarized ({exc}); "
                    f"{_FIX_EDITED}",
                    run_dir=str(run_dir),
                    file=REQUESTS_CSV,
                ) from None
    if recomputed:
        log.info(
            "%s: level(s) %s have no summary in run.json; recomputed from requests.csv",
            run_dir,
            [lv["level"] for lv in recomputed],
        )
    return recomputed


def _first(series: pd.Series, kind: type) -> Any:
    present = series.dropna()
    return kind(present.iloc[0]) if len(present) else None


def _summarize_rows(name: str, rows: pd.DataFrame, timeout_s: Any) -> dict[str, Any]:
    """A level summary like ``servegate.summary.summarize_records``, from CSV rows."""
    status = rows["status"]
    ok = (status == "ok").to_numpy()
    out: dict[str, Any] = {
        "level": name,
        "concurrency": _first(rows["concurrency"], int),
        "request_rate": _first(rows["request_rate"], float),
        "n_prompts": None,
        "aborted": "run stopped before this level ended",
        "recomputed_from": REQUESTS_CSV,
        "n_requests": len(rows),
        "counts": {s: int((status == s).sum()) for s in STATUSES},
        "n_ok": int(ok.sum()),
        "n_errors": len(rows) - int(ok.sum()),
        "n_oom": int((status == "oom").sum()),
        "timeout_s": timeout_s,
    }

    def floats(column: str) -> np.ndarray:
        return rows[column].astype(float).to_numpy()

    tokens_out, tokens_in = floats("output_tokens"), floats("input_tokens")
    tp = throughput_ci(floats("due_s"), floats("end_s"), tokens_out, ok)
    out["throughput"] = tp.to_dict()
    out["duration_s"] = tp.duration_s
    out["ttft_ms"] = latency_block(floats("ttft_ms"), ok, censor=True)
    out["e2e_ms"] = latency_block(floats("e2e_ms"), ok, censor=True)
    out["queue_ms"] = latency_block(floats("queue_ms"), ok, censor=False)
    out["itl_pooled_ms"] = None
    out["tpot_ms"] = latency_block(floats("tpot_ms"), ok, censor=False)
    out["tokens_source"] = rows["tokens_source"].value_counts(sort=False).to_dict()
    out["output_tokens_total"] = int(np.nansum(tokens_out[ok]))
    out["input_tokens_total"] = int(np.nansum(tokens_in[ok]))
    errors = rows.loc[~ok, "error"].value_counts()
    out["top_errors"] = [{"error": e, "count": int(c)} for e, c in errors.head(5).items()]
    return out
