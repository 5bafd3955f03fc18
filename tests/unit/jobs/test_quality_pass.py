"""The quality pass end to end: a calibration server scripted to answer a known share right."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from servegate.calibration.server import CalibrationConfig, CalibrationServer
from servegate.core.errors import QualityFileError
from servegate.jobs.bench import run_benchmark
from servegate.quality.checks import DEFAULT_CHECKS, load_checks
from servegate.runs.quality_csv import read_quality
from servegate.runs.reader import load_run
from tests.helpers import CALIBRATION_MODEL, REPO, TEST_PROMPTS, WRONG_ANSWER, scripted_answers

SHARE = 0.7  # of each category's items scripted with their reference answer


def _params(tmp_path: Path, srv: CalibrationServer, **over: object) -> dict[str, object]:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(p.model_dump_json() + "\n" for p in TEST_PROMPTS[:8]))
    return {
        "base_url": srv.base_url,
        "model": CALIBRATION_MODEL,
        "prompts": str(prompts),
        "n_prompts": 8,
        "concurrency": [4],
        "baseline_prompts": None,
        "results_dir": str(tmp_path / "results"),
        "run_label": "quality",
        "warmup_requests": 0,
        **over,
    }


def test_the_reported_accuracy_holds_the_scripted_share_overall_and_per_category(
    tmp_path: Path,
) -> None:
    answers, shares = scripted_answers(SHARE)
    # Enough tokens for any answer (a scripted answer ends when its words do), 1 ms apart.
    config = CalibrationConfig(
        seed=3, ttft_ms=2, itl_ms=1, output_tokens_min=400, output_tokens_max=400, answers=answers
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(_params(tmp_path, srv, quality_max_tokens=512), progress=False)
    assert result.state == "complete"
    run = load_run(result.run_dir)
    quality = run.record.quality
    assert quality is not None and quality.complete
    checks = load_checks(DEFAULT_CHECKS)
    assert quality.n == len(checks) and quality.n_failed_requests == 0
    assert quality.sha256 == checks.sha256 == run.record.manifest.quality_set.sha256  # type: ignore[union-attr]
    expected = sum(shares[c] * n for c, n in checks.by_category().items()) / len(checks)
    assert quality.accuracy == pytest.approx(expected)
    assert quality.ci_low <= expected <= quality.ci_high  # type: ignore[operator]
    for category, share in shares.items():
        got = quality.by_category[category]
        assert got.accuracy == pytest.approx(share), category
        assert got.ci_low <= share <= got.ci_high, category  # type: ignore[operator]
        assert 0 < got.ci_low < got.ci_high < 1  # type: ignore[operator]  # a real interval
    frame = read_quality(run.run_dir, run.record)
    assert frame is not None and frame["id"].tolist() == [i.id for i in checks.items]
    right = frame[frame["passed"]]
    by_id = {i.id: i for i in checks.items}
    assert all(a == by_id[i].answer for i, a in zip(right["id"], right["answer"], strict=True))
    assert set(frame.loc[~frame["passed"], "answer"]) == {WRONG_ANSWER}
    # The pass is not a latency level: requests.csv holds only the 8 measured prompts.
    with open(run.run_dir / "requests.csv", newline="") as fh:
        assert [r["level"] for r in csv.DictReader(fh)] == ["c4"] * 8


def test_failed_requests_count_as_not_passed_and_on_their_own(tmp_path: Path) -> None:
    answers, _ = scripted_answers(1.0)
    config = CalibrationConfig(
        seed=4,
        ttft_ms=2,
        itl_ms=1,
        output_tokens_min=400,
        output_tokens_max=400,
        answers=answers,
        p_http_500=0.25,
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(_params(tmp_path, srv, quality_max_tokens=512), progress=False)
    quality = result.record.quality
    assert quality is not None
    assert quality.n_failed_requests > 10  # about a quarter of 144
    assert quality.n_passed == quality.n - quality.n_failed_requests
    frame = read_quality(result.run_dir, result.record)
    assert frame is not None
    failed = frame[frame["status"] != "ok"]
    assert len(failed) == quality.n_failed_requests and not failed["passed"].any()
    assert failed["reason"].str.startswith("request failed (error)").all()


def test_null_quality_prompts_skips_the_pass_and_says_so(tmp_path: Path) -> None:
    lines: list[str] = []

    class Say:
        def stage(self, text: str) -> None:
            lines.append(text)

        def counter(self, *_a: object, **_k: object):
            from servegate.core.progress import reporter

            return reporter("off").counter("x", 1)

    config = CalibrationConfig(
        seed=5, ttft_ms=2, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config) as srv:
        result = run_benchmark(_params(tmp_path, srv, quality_prompts=None), progress=Say())
    assert result.record.quality is None and result.record.manifest.quality_set is None
    assert not (result.run_dir / "quality.csv").exists()
    assert any("quality pass skipped: quality_prompts is null" in line for line in lines)


def test_a_bad_checks_file_stops_the_run_before_any_request(tmp_path: Path) -> None:
    bad = tmp_path / "checks.jsonl"
    good = (REPO / DEFAULT_CHECKS).read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([good[0], good[0]]) + "\n", encoding="utf-8")  # a duplicate id
    config = CalibrationConfig(
        seed=6, ttft_ms=2, itl_ms=1, output_tokens_min=2, output_tokens_max=4
    )
    with CalibrationServer(config, truth_path=tmp_path / "truth.jsonl") as srv:
        with pytest.raises(QualityFileError, match="line 2") as caught:
            run_benchmark(_params(tmp_path, srv, quality_prompts=str(bad)), progress=False)
        assert srv.truth() == []  # nothing was sent
    assert "duplicate" in str(caught.value)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
