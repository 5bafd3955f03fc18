"""``servegate import --from vllm-bench|guidellm|aiperf``: real files the tools wrote
(tests/fixtures/imports/README.md says how), their percentiles against each tool's own summary,
statuses, tokens, the TTFT flag, the manifest, and bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from servegate.analysis.gates import GateParams, evaluate_gates
from servegate.core.errors import ImportFileError
from servegate.runs.importer import TOOLS, import_tool_file
from servegate.runs.reader import load_run
from tests.helpers import FIXTURES

IMPORTS = FIXTURES / "imports"
VLLM_FILE = IMPORTS / "vllm_bench_serve.json"
GUIDELLM_FILE = IMPORTS / "guidellm" / "benchmarks.json"
AIPERF_FILE = IMPORTS / "aiperf" / "profile_export.jsonl"
AIPERF_SUMMARY = IMPORTS / "aiperf" / "profile_export_aiperf.json"


def _guidellm_percentile(values: np.ndarray, q: float) -> float:
    """GuideLLM 0.8's percentile (``Percentiles.from_pdf``): the first value whose float
    cumulative sum of 1/n reaches q/100 -- an inverted CDF, not an interpolation."""
    ordered = np.sort(values)
    cdf = np.cumsum(np.full(ordered.size, 1.0 / ordered.size))
    return float(ordered[np.searchsorted(cdf, q / 100.0, side="left")])


def _import(tool: str, path: Path, results: Path, **kw: object):  # type: ignore[no-untyped-def]
    result = import_tool_file(tool, path, results_dir=results, **kw)  # type: ignore[arg-type]
    return result, load_run(result.run_dir)


def test_vllm_bench_percentiles_equal_vllm_s_own(tmp_path: Path) -> None:
    """Both sides use numpy's linear percentile; vLLM's is over successful requests, servegate
    counts failures as +inf: the fixture's 20 requests all succeeded, so the definitions
    coincide and the figures must agree within 1 ms."""
    own = json.loads(VLLM_FILE.read_text())
    assert own["failed"] == 0 and own["completed"] == 20
    result, run = _import("vllm-bench", VLLM_FILE, tmp_path)
    (level,) = run.levels
    assert level.e2e_ms is not None and level.ttft_ms is not None
    assert abs(level.e2e_ms.p50.value - own["median_e2el_ms"]) < 1.0  # type: ignore[operator]
    assert abs(level.e2e_ms.p50.value - own["p50_e2el_ms"]) < 1.0  # type: ignore[operator]
    assert abs(level.e2e_ms.p95.value - own["p95_e2el_ms"]) < 1.0  # type: ignore[operator]
    assert abs(level.ttft_ms.p95.value - own["p95_ttft_ms"]) < 1.0  # type: ignore[operator]
    # the load: --max-concurrency 4 at an infinite rate is servegate's closed-loop c4
    assert (level.level, level.concurrency, level.request_rate) == ("c4", 4, None)
    req = run.requests
    assert set(req["status"]) == {"ok"} and (result.n_rows, result.n_errors) == (20, 0)
    assert list(req["input_tokens"]) == own["input_lens"]
    assert list(req["output_tokens"]) == own["output_lens"]
    assert set(req["tokens_source"]) == {"vllm-bench"}
    assert level.throughput is not None  # start_times give each request's span


def test_vllm_bench_manifest_names_tool_version_hash_and_ttft(tmp_path: Path) -> None:
    _, run = _import("vllm-bench", VLLM_FILE, tmp_path)
    src = run.record.manifest.source_file
    assert src is not None
    assert (src.tool, src.tool_version) == ("vllm-bench", "0.32.0")
    assert src.sha256 == hashlib.sha256(VLLM_FILE.read_bytes()).hexdigest()
    assert src.ttft_comparable is False and not run.record.ttft_comparable
    assert "role-only" in (src.ttft_definition or "")
    assert run.record.source == "imported" and run.backend == "vllm-bench"
    saved = json.loads((run.run_dir / "run.json").read_text())
    assert saved["manifest"]["source_file"]["ttft_comparable"] is False


def test_an_imported_ttft_enters_a_gate_only_when_the_user_says_so(tmp_path: Path) -> None:
    params = GateParams(gate_latency_metric="ttft", p95_ms=10_000, p50_ms=10_000, min_prompts=1)
    _, refused = _import("vllm-bench", VLLM_FILE, tmp_path / "a")
    gates = {g.name: g for g in evaluate_gates(refused, params).gates}
    for name in ("p95_latency", "p50_latency"):
        assert gates[name].measured is None and gates[name].verdict == "INCONCLUSIVE"
        assert "--ttft-comparable" in gates[name].note
    _, vouched = _import("vllm-bench", VLLM_FILE, tmp_path / "b", ttft_comparable=True)
    assert vouched.record.ttft_comparable
    gates = {g.name: g for g in evaluate_gates(vouched, params).gates}
    # read now: p50's interval is bounded at n = 20 (p95's needs n >= 72)
    assert gates["p50_latency"].verdict == "PASS" and gates["p50_latency"].n == 20
    assert gates["p95_latency"].measured is not None
    # the e2e gate reads an import's end-to-end times either way
    e2e = evaluate_gates(refused, GateParams(min_prompts=1)).gates[0]
    assert e2e.measured is not None and e2e.n == 20


def test_guidellm_percentiles_equal_guidellm_s_own_under_its_definition(tmp_path: Path) -> None:
    """GuideLLM takes an inverted-CDF percentile, servegate a linear one (both over the 20
    successful requests: the fixture has no failure). Applied to the imported times, GuideLLM's
    definition gives GuideLLM's figures; servegate's saved p50/p95 are numpy's linear ones of
    the same times, and here also within 1 ms of GuideLLM's."""
    own = json.loads(GUIDELLM_FILE.read_text())["benchmarks"][0]
    summary = own["metrics"]["request_latency"]["successful"]
    _, run = _import("guidellm", GUIDELLM_FILE, tmp_path)
    (level,) = run.levels
    e2e = run.requests["e2e_ms"].to_numpy(float)
    assert e2e.size == 20 and set(run.requests["status"]) == {"ok"}
    for q in (50, 95):
        tool = summary["percentiles"][f"p{q}"] * 1000.0
        assert abs(_guidellm_percentile(e2e, q) - tool) < 1e-3
        saved = level.e2e_ms.percentile(f"p{q}").value  # type: ignore[union-attr]
        assert saved == pytest.approx(np.percentile(e2e, q), abs=1e-3)
        assert abs(saved - tool) < 1.0  # type: ignore[operator]
    assert (level.level, level.concurrency) == ("c4", 4)
    src = run.record.manifest.source_file
    assert src is not None and (src.tool, src.tool_version) == ("guidellm", "0.8.1")
    assert not src.ttft_comparable
    records = own["requests"]["successful"]
    assert level.output_tokens_total == sum(r["output_tokens"] for r in records)
    assert level.input_tokens_total == sum(r["prompt_tokens"] for r in records)


def test_aiperf_percentiles_equal_aiperf_s_own(tmp_path: Path) -> None:
    """AIPerf's summary is numpy's linear percentile over every record (failures included);
    servegate's is linear with failures as +inf: the fixture's 20 records all succeeded."""
    own = json.loads(AIPERF_SUMMARY.read_text())
    assert own["error_summary"] == []
    _, run = _import("aiperf", AIPERF_FILE, tmp_path)
    (level,) = run.levels
    for q in ("p50", "p95"):
        saved = level.e2e_ms.percentile(q).value  # type: ignore[union-attr]
        assert abs(saved - own["request_latency"][q]) < 1.0  # type: ignore[operator]
        ttft = level.ttft_ms.percentile(q).value  # type: ignore[union-attr]
        assert abs(ttft - own["time_to_first_token"][q]) < 1.0  # type: ignore[operator]
    assert (level.level, level.concurrency) == ("c4", 4)  # input_config.phases: concurrency 4
    src = run.record.manifest.source_file
    assert src is not None and (src.tool, src.tool_version) == ("aiperf", "0.13.0")
    assert level.n_ok == 20 and level.output_tokens_total == own["total_osl"]["avg"]


def test_aiperf_without_its_summary_keeps_version_and_load_unknown(tmp_path: Path) -> None:
    alone = tmp_path / "export" / "profile_export.jsonl"
    alone.parent.mkdir()
    shutil.copy(AIPERF_FILE, alone)
    _, run = _import("aiperf", alone, tmp_path / "results")
    (level,) = run.levels
    src = run.record.manifest.source_file
    assert src is not None and src.tool_version is None
    assert (level.level, level.concurrency) == ("imported", None)


def test_failed_requests_keep_their_status_and_count_as_misses(tmp_path: Path) -> None:
    """Two vLLM requests edited into failures, as vLLM saves one (error text, no latency):
    servegate's p95 is then +inf (2 of 20 misses), whatever vLLM's own summary said."""
    data = json.loads(VLLM_FILE.read_text())
    for i, error in ((3, "Traceback ...\nasyncio.TimeoutError"), (7, "Bad Request")):
        data["errors"][i], data["latencies"][i], data["ttfts"][i] = error, 0.0, 0.0
        data["output_lens"][i] = 0
    data["completed"], data["failed"] = 18, 2
    edited = tmp_path / "failed.json"
    edited.write_text(json.dumps(data))
    result, run = _import("vllm-bench", edited, tmp_path / "results")
    assert result.n_errors == 2
    req = run.requests
    assert list(req.loc[[3, 7], "status"]) == ["timeout", "error"]
    assert req.loc[3, "error"] == "Traceback ... asyncio.TimeoutError"  # one line
    (level,) = run.levels
    assert level.n_errors == 2 and level.e2e_ms.p95.value == float("inf")  # type: ignore[union-attr]


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _bad_inputs(tmp: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (tool, file, words the error must say)."""
    vllm = json.loads(VLLM_FILE.read_text())
    plain = {k: v for k, v in vllm.items() if k not in ("ttfts", "errors", "input_lens")}
    guide = json.loads(GUIDELLM_FILE.read_text())
    guide["metadata"]["version"] = 99
    files = {
        "empty.json": "",
        "not_json.json": "{not json",
        "no_detail.json": json.dumps(plain),
        "guidellm_v99.json": json.dumps(guide),
        "other.jsonl": '{"hello": 1}\n',
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    return {
        "empty": ("vllm-bench", tmp / "empty.json", "empty"),
        "not json": ("guidellm", tmp / "not_json.json", "is not JSON"),
        "no --save-detailed": ("vllm-bench", tmp / "no_detail.json", "--save-detailed"),
        "aiperf file as vllm": ("vllm-bench", AIPERF_SUMMARY, "is not a `vllm bench serve"),
        "vllm file as guidellm": ("guidellm", VLLM_FILE, "is not a GuideLLM"),
        "vllm file as aiperf": ("aiperf", VLLM_FILE, "is not AIPerf's per-record export"),
        "unknown guidellm layout": ("guidellm", tmp / "guidellm_v99.json", "report version 99"),
        "other jsonl": ("aiperf", tmp / "other.jsonl", "is not AIPerf's"),
        "missing": ("aiperf", tmp / "nope.jsonl", "no such file"),
    }


def test_bad_input_is_one_clear_error_naming_the_file_and_writes_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for name, (tool, path, words) in _bad_inputs(tmp_path).items():
        with pytest.raises(ImportFileError) as caught:
            import_tool_file(tool, path, results_dir=results)
        message = str(caught.value)
        assert message.startswith(f"{path}: "), name
        assert words in message and "; " in message, (name, message)  # problem; fix
        assert _entries(results) == [], name


def test_the_same_file_twice_and_reserved_backends_are_refused(tmp_path: Path) -> None:
    import_tool_file("aiperf", AIPERF_FILE, results_dir=tmp_path)
    with pytest.raises(ImportFileError, match="already imported"):
        import_tool_file("aiperf", AIPERF_FILE, results_dir=tmp_path, label="again")
    with pytest.raises(ImportFileError, match="reserved"):
        import_tool_file("vllm-bench", VLLM_FILE, results_dir=tmp_path, backend="vllm")


def test_the_cli_s_tool_names_are_the_importer_s() -> None:
    from servegate.cli.commands import IMPORT_TOOLS

    assert set(IMPORT_TOOLS) == set(TOOLS)
