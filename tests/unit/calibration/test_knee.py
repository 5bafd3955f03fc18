"""The calibration server's capacity knee: K requests in flight at full speed, the next waits."""

from __future__ import annotations

from pathlib import Path

from servegate.calibration.script import CalibrationConfig, knee_delay_for, script_for
from servegate.calibration.server import CalibrationServer
from servegate.measure.eventloop import run_async
from servegate.measure.loadgen import ChatTarget, LevelSpec, LoadGenerator
from tests.helpers import TEST_PROMPTS

KNEE = CalibrationConfig(
    seed=2, ttft_ms=15, itl_ms=2, output_tokens_min=2, output_tokens_max=5, slots=4,
    knee_delay_ms=300,
)  # fmt: skip


def test_the_knee_delay_is_drawn_only_beyond_the_slots() -> None:
    assert knee_delay_for(KNEE, 7, in_flight=3) == 0.0
    assert knee_delay_for(KNEE, 7, in_flight=4) == 300.0
    assert knee_delay_for(KNEE.model_copy(update={"slots": None}), 7, in_flight=99) == 0.0
    # The knee draws from its own generator: the scripts themselves do not change.
    plain = KNEE.model_copy(update={"slots": None})
    assert script_for(KNEE, 5) == script_for(plain, 5)
    assert script_for(KNEE, 5).delayed(300.0).e2e_ms == script_for(KNEE, 5).e2e_ms + 300.0


def test_a_closed_loop_at_the_slots_never_waits_and_one_more_mostly_does(tmp_path: Path) -> None:
    waited: dict[int, float] = {}
    with CalibrationServer(KNEE, truth_path=tmp_path / "truth.jsonl") as server:
        gen = LoadGenerator(
            ChatTarget(server.base_url, "calibration", "vllm"), run_id="knee", progress=False
        )
        for c in (4, 5):
            before = len(server.truth())
            spec = LevelSpec(prompts=TEST_PROMPTS[:60], concurrency=c)
            run_async(lambda abort, spec=spec: gen.run_level(spec, abort))
            # The level's own requests (its connection warm-up requests come first).
            rows = [r for r in server.truth()[before:] if r["scripted_output_tokens"] > 1]
            waited[c] = sum(r["knee_delay_ms"] > 0 for r in rows) / len(rows)
    assert waited[4] == 0.0
    assert waited[5] > 0.5
