"""Graceful degradation, replayed: "serve on local vLLM; with no first token within T ms, or an
error, ask the hosted API instead", simulated on recorded requests for a range of T.

Pure replay of one local load level and a hosted run (no network). Per local request and T:

- served locally when it succeeded and its first token came by T (``ttft_ms <= T``): latency is
  its own ``e2e_ms``;
- else it falls back after waiting ``min(T, e2e_ms)`` for a failure (``e2e_ms`` is when the
  error was seen; a failure whose first token came by T is only seen at ``e2e_ms``) or ``T``
  for a slow first token; latency = that wait + the hosted ``e2e_ms`` of the same prompt
  (``prompt_id``) from the hosted run, or, where the hosted run lacks that prompt, one drawn
  with a seeded RNG from its successful answers (``n_paired``/``n_drawn`` say how many). A
  paired hosted failure is a failure: ``+inf``, a miss, as everywhere in servegate.

Reference rows: T = +inf is the local run alone (no fallback; its p50/p95 are the gates'),
T = 0 the hosted API alone. Percentiles and their 95% intervals come from
``servegate.core.stats.percentile_ci``; verdicts from ``servegate.analysis.gate_rule``.

Assumptions: hosted answers come from the hosted run's level of the same name, else from all
of its levels; latency means end-to-end (what the user waits for the answer); the blended cost
charges answers served locally at ``local_usd_per_1m_output_tokens`` and hosted answers at list
prices for their own tokens, and ignores the local work thrown away by a fallback and the cost
of a failed hosted call; drawn answers come from successes only, so an unpaired fallback never
fails on the hosted side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from servegate.analysis.gate_rule import Verdict, verdict_upper_bound
from servegate.analysis.ops_params import FallbackParams
from servegate.core.errors import ConfigError
from servegate.core.stats import Estimate, percentile_ci
from servegate.runs.reader import RunData

__all__ = ["FallbackParams", "FallbackResult", "FallbackRow", "fallback_frame", "simulate_fallback"]


@dataclass(frozen=True)
class FallbackRow:
    """The policy at one time-out ``timeout_ms`` (``inf``: local only, ``0``: hosted only)."""

    timeout_ms: float
    policy: str
    n: int
    n_local: int
    n_fallback: int
    n_paired: int
    n_drawn: int
    n_failed: int
    p50_ms: Estimate
    p95_ms: Estimate
    p50_verdict: str
    p95_verdict: str
    output_tokens_local: int
    output_tokens_hosted: int
    blended_usd_per_1m_output_tokens: float | None

    @property
    def fallback_rate(self) -> float:
        return self.n_fallback / self.n if self.n else math.nan

    @property
    def failure_share(self) -> float:
        return self.n_failed / self.n if self.n else math.nan

    @property
    def passes_gates(self) -> bool:
        return self.p50_verdict == Verdict.PASS and self.p95_verdict == Verdict.PASS


@dataclass(frozen=True)
class FallbackResult:
    """The simulation, or (``simulated`` False) the reason it could not be run."""

    simulated: bool
    reason: str
    params: FallbackParams
    level: str | None = None
    hosted_level: str | None = None
    local_run_id: str = ""
    hosted_run_id: str = ""
    rows: tuple[FallbackRow, ...] = ()
    notes: tuple[str, ...] = ()

    def row(self, timeout_ms: float) -> FallbackRow:
        """The row of one time-out; ``KeyError`` when it was not simulated."""
        for row in self.rows:
            if row.timeout_ms == timeout_ms:
                return row
        raise KeyError(f"no row for T = {timeout_ms} ms; simulated: {self.timeouts()}")

    def timeouts(self) -> list[float]:
        return [row.timeout_ms for row in self.rows]


def _rows_of(source: RunData | pd.DataFrame | None) -> tuple[pd.DataFrame, str, dict]:
    if source is None:
        return pd.DataFrame(), "", {}
    if isinstance(source, RunData):
        return source.requests, source.run_id, source.params
    ids = list(source["run_id"].unique()) if len(source) else []
    if len(ids) > 1:
        raise ConfigError(f"pass one run's rows, got runs {ids}; filter on run_id first")
    return source, str(ids[0]) if ids else "", {}


def _gate_level(rows: pd.DataFrame, run_params: dict) -> str:
    """The level the gates judge: the run's gate_concurrency, else its highest concurrency."""
    closed = rows[rows["request_rate"].isna() & rows["concurrency"].notna()]
    gate = run_params.get("gate_concurrency")
    pick = closed[closed["concurrency"] == gate] if gate else closed.iloc[:0]
    if pick.empty and len(closed):
        pick = closed[closed["concurrency"] == closed["concurrency"].max()]
    return str((pick if len(pick) else rows)["level"].iloc[0])


def _floats(rows: pd.DataFrame, column: str) -> np.ndarray:
    return rows[column].astype("Float64").to_numpy(float, na_value=np.nan)


class _CannotSimulate(Exception):
    """Why the replay cannot run; ``simulate_fallback`` returns it as the result's reason."""


def simulate_fallback(
    local: RunData | pd.DataFrame | None,
    hosted: RunData | pd.DataFrame | None,
    params: FallbackParams | None = None,
) -> FallbackResult:
    """Replay the fallback policy on one local level for every T in ``params.timeouts_ms``.

    :param local: the local vLLM run (or its requests.csv rows); None gives ``simulated=False``.
    :param hosted: the hosted run (or its rows); None or a skipped run gives a result with
        ``simulated=False`` and the reason, for the report to show.
    :raises ConfigError: for a named level that is not in the run, or rows of several runs.
    """
    params = params or FallbackParams()
    rows, local_id, run_params = _rows_of(local)
    h_rows, hosted_id, _ = _rows_of(hosted)
    base = FallbackResult(False, "", params, local_run_id=local_id, hosted_run_id=hosted_id)
    try:
        if rows.empty:
            raise _CannotSimulate("the local run has no measured requests")
        level = params.level or _gate_level(rows, run_params)
        rows = _level_rows(rows, level, local_id)
        base = replace(base, level=level)
        if h_rows.empty:
            raise _CannotSimulate(_no_hosted_rows(hosted))
        h_level, h_rows = _hosted_level_rows(h_rows, level, hosted_id, params.hosted_level)
        base = replace(base, hosted_level=h_level or "all levels")
        local_side, local_notes = _local_side(rows, level)
        hosted_side, hosted_notes = _hosted_side(rows, h_rows, params.seed)
    except _CannotSimulate as why:
        return replace(base, reason=f"cannot simulate: {why}")
    sim = _Replay(local_side, hosted_side, params)
    timeouts = [0.0, *params.timeouts_ms, math.inf]
    notes = (*local_notes, *hosted_notes)
    return replace(base, simulated=True, rows=tuple(map(sim.row, timeouts)), notes=notes)


def _level_rows(rows: pd.DataFrame, level: str, run_id: str) -> pd.DataFrame:
    """The local rows of ``level``; ``ConfigError`` when the run has no such level."""
    if level not in set(rows["level"]):
        raise ConfigError(
            f"level {level!r} is not in local run {run_id} (levels: "
            f"{sorted(set(rows['level']))}); pass one of them as level, or None for the gate level"
        )
    return rows[rows["level"] == level]


def _no_hosted_rows(hosted: RunData | pd.DataFrame | None) -> str:
    """Why there is no hosted answer to fall back to: a skipped run (and why), or none."""
    skipped = isinstance(hosted, RunData) and hosted.state == "skipped"
    why = (hosted.record.skipped_reason or "") if isinstance(hosted, RunData) else ""
    return f"the hosted run was skipped ({why})" if skipped else "no hosted run to fall back to"


def _hosted_level_rows(
    h_rows: pd.DataFrame, level: str, run_id: str, wanted: str | None
) -> tuple[str | None, pd.DataFrame]:
    """The hosted level answers come from (``wanted``, else the local level's name when the
    hosted run has it, else None: all levels) and its rows."""
    if wanted and wanted not in set(h_rows["level"]):
        raise ConfigError(f"hosted_level {wanted!r} is not in run {run_id}")
    h_level = wanted or (level if level in set(h_rows["level"]) else None)
    return h_level, (h_rows[h_rows["level"] == h_level] if h_level else h_rows)


@dataclass(frozen=True)
class _Local:
    """The local level, one entry per request in row order."""

    ok: np.ndarray
    e2e: np.ndarray
    ttft: np.ndarray
    output_tokens: np.ndarray  # of successful requests; 0 for a failure


def _local_side(rows: pd.DataFrame, level: str) -> tuple[_Local, list[str]]:
    """The local level's outcomes and times, with a note when e2e stood in for a missing TTFT."""
    ok = (rows["status"] == "ok").to_numpy()
    e2e, ttft = _floats(rows, "e2e_ms"), _floats(rows, "ttft_ms")
    no_ttft = ok & np.isnan(ttft)
    notes = []
    if ok.any() and no_ttft.all(where=ok):
        raise _CannotSimulate(f"no ttft_ms recorded at {level}")
    if no_ttft.any():
        # The first token came no later than the end: e2e bounds ttft (more fallbacks, not fewer).
        ttft = np.where(no_ttft, e2e, ttft)
        notes.append(f"{int(no_ttft.sum())} successful request(s) had no ttft_ms: e2e_ms used")
    out = np.where(ok, np.nan_to_num(_floats(rows, "output_tokens")), 0.0)
    return _Local(ok, e2e, ttft, out), notes


@dataclass(frozen=True)
class _Hosted:
    """The hosted answer each local request falls back to, in the local rows' order."""

    paired: np.ndarray  # the hosted run answered the same prompt; else the answer was drawn
    ok: np.ndarray
    e2e: np.ndarray  # +inf for a paired failure
    input_tokens: np.ndarray
    output_tokens: np.ndarray


def _hosted_side(rows: pd.DataFrame, h_rows: pd.DataFrame, seed: int) -> tuple[_Hosted, list[str]]:
    """Each local request's hosted answer: the hosted run's answer to the same prompt, else one
    drawn (seeded) from its successful answers, with a note saying how many were drawn."""
    hosted_one = h_rows[h_rows["prompt_id"] != ""].drop_duplicates("prompt_id", keep="first")
    pair = hosted_one.set_index("prompt_id").reindex(rows["prompt_id"])
    paired = pair["status"].notna().to_numpy()
    h_ok = (pair["status"] == "ok").to_numpy()
    h_e2e = np.where(h_ok, _floats(pair, "e2e_ms"), np.inf)
    h_in, h_out = _floats(pair, "input_tokens"), _floats(pair, "output_tokens")
    if paired.all():
        return _Hosted(paired, h_ok, h_e2e, h_in, h_out), []
    pool = h_rows[h_rows["status"] == "ok"]
    if pool.empty:
        raise _CannotSimulate("the hosted run has no successful answer to draw from")
    # One draw per local request, in row order, made once: every T sees the same draws.
    pick = np.random.default_rng(seed).integers(0, len(pool), len(rows))
    drawn = ~paired
    h_e2e[drawn] = _floats(pool, "e2e_ms")[pick][drawn]
    h_in[drawn] = _floats(pool, "input_tokens")[pick][drawn]
    h_out[drawn] = _floats(pool, "output_tokens")[pick][drawn]
    note = (
        f"{int(drawn.sum())} of {len(rows)} prompts are not in the hosted run: their hosted "
        f"latency is drawn (seed {seed}) from its {len(pool)} successful answers"
    )
    return _Hosted(paired, h_ok | drawn, h_e2e, h_in, h_out), [note]


@dataclass(frozen=True)
class _Replay:
    """The policy replayed on one local level and its hosted answers, one T at a time."""

    local: _Local
    hosted: _Hosted
    params: FallbackParams

    def row(self, t: float) -> FallbackRow:
        p, lo, ho = self.params, self.local, self.hosted
        n = lo.ok.size
        if math.isinf(t):  # local only: no fallback, a failure stays a miss
            local = lo.ok.copy()
            latency = np.where(lo.ok, lo.e2e, np.inf)
            policy = "local only"
        else:
            local = lo.ok & (lo.ttft <= t) if t > 0 else np.zeros(n, bool)
            # A failure is seen when it ends, or at T if no token came by then.
            seen = np.where(~lo.ok & (lo.ttft <= t), lo.e2e, np.minimum(t, lo.e2e))
            wait = np.where(lo.ok, t, seen)
            latency = np.where(local, lo.e2e, wait + ho.e2e)
            policy = "hosted only" if t == 0 else f"fallback after {t:g} ms"
        back = ~local if not math.isinf(t) else np.zeros(n, bool)
        served_hosted = back & ho.ok
        tokens_local = float(lo.output_tokens[local].sum())
        tokens_in = float(np.nan_to_num(ho.input_tokens[served_hosted]).sum())
        tokens_out = float(np.nan_to_num(ho.output_tokens[served_hosted]).sum())
        p50, p95 = percentile_ci(latency, 50), percentile_ci(latency, 95)
        return FallbackRow(
            timeout_ms=t,
            policy=policy,
            n=n,
            n_local=int(local.sum()),
            n_fallback=int(back.sum()),
            n_paired=int((back & ho.paired).sum()),
            n_drawn=int((back & ~ho.paired).sum()),
            n_failed=int(np.isinf(latency).sum()),
            p50_ms=p50,
            p95_ms=p95,
            p50_verdict=str(verdict_upper_bound(p50, p.p50_ms)),
            p95_verdict=str(verdict_upper_bound(p95, p.p95_ms)),
            output_tokens_local=int(tokens_local),
            output_tokens_hosted=int(tokens_out),
            blended_usd_per_1m_output_tokens=_blended(p, tokens_local, tokens_in, tokens_out),
        )


def _blended(p: FallbackParams, local: float, hosted_in: float, hosted_out: float) -> float | None:
    """USD per 1M output tokens of the served answers; None when a price needed is missing."""
    if local + hosted_out == 0:
        return None
    usd = 0.0
    if local:
        if p.local_usd_per_1m_output_tokens is None:
            return None
        usd += local * p.local_usd_per_1m_output_tokens
    if hosted_in or hosted_out:
        if p.hosted_input_usd_per_1m is None or p.hosted_output_usd_per_1m is None:
            return None
        usd += hosted_in * p.hosted_input_usd_per_1m + hosted_out * p.hosted_output_usd_per_1m
    return usd / (local + hosted_out)


def fallback_frame(result: FallbackResult) -> pd.DataFrame:
    """One row per T (hosted only, each T, local only) for a table or the fallback figure."""
    rows = []
    for r in result.rows:
        row = {"timeout_ms": r.timeout_ms, "policy": r.policy, "n": r.n}
        row |= {"fallback_rate": r.fallback_rate, "failure_share": r.failure_share}
        row |= {"n_paired": r.n_paired, "n_drawn": r.n_drawn}
        for q, est in (("p50", r.p50_ms), ("p95", r.p95_ms)):
            row[f"{q}_ms"] = math.nan if est.value is None else est.value
            row[f"{q}_ci_low_ms"] = math.nan if est.ci_low is None else est.ci_low
            row[f"{q}_ci_high_ms"] = math.nan if est.ci_high is None else est.ci_high
        row |= {"p50_verdict": r.p50_verdict, "p95_verdict": r.p95_verdict}
        row |= {"passes_gates": r.passes_gates}
        row["blended_usd_per_1m_output_tokens"] = r.blended_usd_per_1m_output_tokens
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["timeout_ms", "policy", "n"])
