"""The servegate command: its subcommands, one clear error line and exit code 2 on bad input."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from servegate.cli import build_parser, main, version
from servegate.core.errors import ModelArtifactError
from servegate.jobs.preflight import gpu_visible
from servegate.runs.reader import load_run
from servegate.server.lifecycle import ServerConfig, VLLMServer
from tests.helpers import CHAT, FIXTURES, REPO


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


def test_the_calibrate_command_serves_until_interrupted(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    truth = tmp_path / "truth.jsonl"
    argv = [sys.executable, "-m", "servegate.cli", "calibrate", "--port", str(port)]
    argv += ["--ttft-ms", "2", "--itl-ms", "1", "--tokens", "2:3", "--truth", str(truth)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"calibration server on http://127.0.0.1:{port}/v1" in line
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=5)
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert len(truth.read_text().splitlines()) == 1


def test_the_calibrate_command_names_a_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--tokens", "many"]) == 2
    assert "tokens must be MIN:MAX output tokens, got 'many'" in capsys.readouterr().err
    assert main(["calibrate", "--burst", "http_429:ten:5"]) == 2
    assert "--burst must be FAULT:START:COUNT, got 'http_429:ten:5'" in capsys.readouterr().err
    assert main(["calibrate", "--burst", "teapot:1:5"]) == 2
    assert "fault" in capsys.readouterr().err


def test_cli_import_from_a_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = FIXTURES / "imports" / "vllm_bench_serve.json"
    results = tmp_path / "results"
    argv = ["import", "--from", "vllm-bench", str(source), "--results-dir", str(results)]
    assert main(argv) == 0
    (folder,) = results.iterdir()
    out = capsys.readouterr().out
    assert "import: 20 rows, 0 failed (vllm-bench 0.32.0; TTFT not comparable" in out
    assert load_run(folder).record.manifest.source_file.tool == "vllm-bench"  # type: ignore[union-attr]
    assert main([*argv[:4], "--unit", "ms", "--results-dir", str(tmp_path / "b")]) == 2
    assert "--unit apply to --from csv only" in capsys.readouterr().err
    assert main(["import", str(source), "--results-dir", str(tmp_path / "c")]) == 2
    assert "a CSV import needs --latency-column" in capsys.readouterr().err


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, results = tmp_path / "eval_results_x.csv", tmp_path / "results"
    source.write_text("latency_ms,error\n120,\n80,\n,timeout\n")
    argv = ["import", str(source), "--latency-column", "latency_ms", "--unit", "ms"]
    assert main([*argv, "--results-dir", str(results), "--model", "m", "--label", "poc"]) == 0
    out = capsys.readouterr().out
    (folder,) = results.iterdir()
    assert f"import: 3 rows, 1 failed (latency 'latency_ms', error 'error') -> {folder}" in out
    assert list(load_run(folder).requests["status"]) == ["ok", "ok", "error"]

    assert main([*argv[:3], "latency", "--unit", "ms", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("servegate: error: ") and "no column 'latency'" in err
    assert "\n" not in err and len(list(results.iterdir())) == 1


def test_the_regressions_command_fails_a_scheduled_job_on_a_clear_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = json.loads((FIXTURES / "decision/fixture_runs_decision.json").read_text())
    decision.update(servegate_version="0.1.0", git_commit=None)
    local = decision["comparison"]["local"]
    local.update(message="compared with q1", regressions=["c8 e2e p95"], previous_run="q1")
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(decision))
    assert main(["regressions", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"decision: {decision['decision']} ({path})\n")
    assert "local: compared with q1: c8 e2e p95" in out
    local["regressions"] = []
    path.write_text(json.dumps(decision))
    assert main(["regressions", str(path)]) == 0
    assert "local: compared with q1: no statistically clear regression" in capsys.readouterr().out
    assert main(["regressions", str(tmp_path / "missing.json")]) == 2
    assert "run `make report` first" in capsys.readouterr().err
    path.write_text(json.dumps({"decision": "GO", "comparison": {}}))  # not a decision JSON
    assert main(["regressions", str(path)]) == 2
    assert "schema_version" in capsys.readouterr().err


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"servegate {version()}"
    assert version() == importlib.metadata.version("servegate")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_flag_of_every_subcommand_has_help_and_shows_its_default() -> None:
    parser = build_parser()
    subparsers = _subparsers(parser)
    assert {"bench", "report", "smoke", "aggregate", "import", "verify"} <= set(subparsers)
    for name, sub in [("servegate", parser), *subparsers.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        formatter = sub._get_formatter()
        for action in sub._actions:
            default = action.default
            shown = isinstance(default, int | float | str | Path) and default not in (False, "")
            if action.option_strings and shown and default != argparse.SUPPRESS:
                helped = formatter._get_help_string(action) or ""
                assert "(default: %(default)s)" in helped, f"{name} {action.option_strings}"
    report_help = " ".join(subparsers["report"].format_help().split())
    assert "(default: params/cpu_default.yaml)" in report_help
    assert "(default: params/hosted_openai.yaml)" in report_help


def test_gpu_params_here_stop_with_one_message_and_no_traceback() -> None:
    if gpu_visible():
        pytest.skip("this machine has a GPU")
    argv = [sys.executable, "-m", "servegate.cli", "bench", "--params", "params/gpu_24gb.yaml"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("servegate: error: this machine cannot run these parameters")
    assert "/models/Meta-Llama-3.1-8B-Instruct-AWQ-INT4 does not exist" in line
    assert "need an NVIDIA GPU" in line and "Traceback" not in proc.stderr
    # the effective parameters came first: the layer, then what it sets
    assert "layers: [" in proc.stdout and "gpu_memory_utilization: 0.9" in proc.stdout


def test_a_malformed_override_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "bench", "-p", "n_prompts"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("servegate: error: -p 'n_prompts' is not key=value") and "\n" not in err


def test_overrides_and_layers_are_printed_unless_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A prompt file that does not exist stops the run in preflight, after the print.
    argv = ["bench", "--params", "params/quarterly.yaml", "-p", "prompts=nope.jsonl"]
    argv += ["-p", "base_url=http://user:pw@h:1/v1", "-p", "concurrency=[1,2]"]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert "cpu_default.yaml, " in out.out and "quarterly.yaml, -p prompts=nope.jsonl" in out.out
    assert "concurrency: [1, 2]" in out.out and "run_label: quarterly" in out.out
    assert "base_url: http://h:1/v1" in out.out and "pw" not in out.out
    assert "the prompt file" in out.err
    assert main(["--quiet", *argv]) == 2
    assert capsys.readouterr().out == ""


def test_report_layers_the_hosted_file_over_the_local_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    argv = ["report", "--params", "params/cpu_default.yaml", "-p", "n_prompts=7"]
    assert main([*argv, "-p", "prompts=nope.jsonl"]) == 2
    out = capsys.readouterr()
    local, hosted = out.out.split("report: hosted run: effective parameters")
    assert "backend: vllm" in local and "backend: openai" in hosted
    assert "hosted_openai.yaml, -p n_prompts=7" in hosted and "n_prompts: 7" in hosted
    assert "(1) local run: the prompt file" in out.err and "hosted run: the prompt file" in out.err
    assert main(["-q", *argv, "--no-hosted", "-p", "prompts=nope.jsonl"]) == 2
    assert "hosted run" not in capsys.readouterr().err


def test_report_overrides_go_to_the_report_or_the_benchmarks_and_none_is_dropped() -> None:
    from servegate.core.errors import ConfigError
    from servegate.jobs.pipeline import split_report_overrides

    report, bench = split_report_overrides(
        ["local_run=20261201T003019Z_x", "p95_ms=2500", "n_prompts=20", "results_dir=out"],
        benchmarks=True,
    )
    assert report == {"local_run": "20261201T003019Z_x", "p95_ms": 2500, "results_dir": "out"}
    assert bench == ["n_prompts=20", "results_dir=out"]  # results_dir: both read it
    report, bench = split_report_overrides(["local_run=abc"], benchmarks=False)
    assert (report, bench) == ({"local_run": "abc"}, [])
    with pytest.raises(ConfigError, match=r"-p n_prompts=20: with --no-bench .*local_run"):
        split_report_overrides(["n_prompts=20"], benchmarks=False)
