"""The physical bounds (analysis.limits) against hand-computed cases, the sheets' validation,
and the sanity checks: no published measurement and no measured CPU run beats its bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from servegate.analysis.limits import (
    Workload,
    decode_step_s,
    efficiency_to_pass,
    latency_bounds,
    memory_fit,
    prefill_s,
    quantization,
    step_weight_bytes,
    throughput_bound,
    weight_bytes,
)
from servegate.analysis.limits_data import (
    HardwareOption,
    model_from_config,
    read_hardware,
    read_models,
    read_published,
)
from servegate.analysis.limits_run import level_efficiencies, run_setup
from servegate.core.errors import LimitsError
from servegate.runs.reader import load_run
from tests.helpers import FIXTURE_RUNS, REPO, VLLM_RUN

MODELS = read_models(REPO / "data/limits/models.yaml")
HARDWARE, _ = read_hardware(REPO / "data/hardware.yaml")
SMOL = MODELS["smollm2-135m-instruct"]
LLAMA = MODELS["llama-3.1-8b-instruct"]
CPU = HARDWARE["cpu-2core-epyc"]
L4 = HARDWARE["nvidia-l4"]

# SmolLM2-135M by hand: 30 blocks of q,o (576 x 576), k,v (576 x 3*64), MLP 3 x 576 x 1536.
SMOL_BLOCKS = 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536)  # 106,168,320
SMOL_TABLE = 49152 * 576  # tied: the embedding is the head
SMOL_NORMS = 61 * 576
# Llama-3.1-8B: 32 blocks, hidden 4096, 8 KV heads of 128, MLP 14336, untied 128256 vocab.
LLAMA_BLOCKS = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
LLAMA_TABLE = 128256 * 4096


def test_parameters_match_the_model_cards() -> None:
    assert SMOL.parameters == SMOL_BLOCKS + SMOL_TABLE + SMOL_NORMS == 134_515_008
    assert LLAMA.parameters == 8_030_261_248  # the count Meta publishes
    sheet = yaml.safe_load((REPO / "data/limits/models.yaml").read_text())["models"]
    for key, model in MODELS.items():
        published = sheet[key]["published_parameters"]
        assert abs(model.parameters / published - 1) < 0.02, key


def test_kv_bytes_per_token_and_bytes_per_weight() -> None:
    assert LLAMA.kv_bytes_per_token() == 2 * 32 * 8 * 128 * 2 == 131_072
    assert SMOL.kv_bytes_per_token(4) == 2 * 30 * 3 * 64 * 4
    assert quantization("awq_marlin").weight_bytes == 0.5 + 2.5 / 128
    assert quantization("gptq").weight_bytes == 0.5 + 2 / 128
    assert quantization("bfloat16").weight_bytes == 2 and quantization("fp8").weight_bytes == 1
    # AWQ Llama: 4-bit blocks with group scales/zeros, bf16 embedding + head + norms.
    awq = quantization("awq")
    dense = (2 * LLAMA_TABLE + 65 * 4096) * 2
    assert weight_bytes(LLAMA, awq) == pytest.approx(LLAMA_BLOCKS * 0.51953125 + dense)
    # A step reads the head but not the untied embedding table.
    assert step_weight_bytes(LLAMA, awq) == pytest.approx(
        LLAMA_BLOCKS * 0.51953125 + (LLAMA_TABLE + 65 * 4096) * 2
    )


def test_unknown_quantization_lists_the_known_ones() -> None:
    with pytest.raises(LimitsError, match=r"unknown quantization 'q3_k'.*awq.*gptq"):
        quantization("q3_k")


def test_decode_step_memory_bound_compute_bound_and_efficiency() -> None:
    bf16 = quantization("bf16")
    # One stream: 269,030,016 bytes of bf16 weights at 18.3 GB/s = 14.70 ms.
    memory_s = (SMOL_BLOCKS + SMOL_TABLE + SMOL_NORMS) * 2 / 18.3e9
    assert decode_step_s(SMOL, bf16, CPU, batch=1, cached_tokens=0) == pytest.approx(memory_s)
    # 64 streams: 2 * (blocks + head) * 64 FLOPs at 0.2624 TFLOP/s = 65.6 ms > 14.7 ms.
    compute_s = 2 * (SMOL_BLOCKS + SMOL_TABLE) * 64 / 0.2624e12
    assert compute_s > memory_s
    assert decode_step_s(SMOL, bf16, CPU, batch=64, cached_tokens=0) == pytest.approx(compute_s)
    # KV read: 1000 cached tokens add 23,040 bytes each; half the efficiency, twice the time.
    with_kv = (SMOL_BLOCKS + SMOL_TABLE + SMOL_NORMS) * 2 / 18.3e9 + 1000 * 23_040 / 18.3e9
    assert decode_step_s(
        SMOL, bf16, CPU, batch=1, cached_tokens=1000, efficiency=0.5
    ) == pytest.approx(2 * with_kv)
    with pytest.raises(LimitsError, match="efficiency"):
        decode_step_s(SMOL, bf16, CPU, batch=1, cached_tokens=0, efficiency=1.5)


def test_prefill_is_compute_bound_on_an_l4() -> None:
    # 1000 tokens of Llama bf16: 2 * blocks * 1000 + the head once, at 121 TFLOP/s = 115.4 ms
    # (one read of the 15 GB of weights would take 50 ms).
    flops = 2 * LLAMA_BLOCKS * 1000 + 2 * LLAMA_TABLE
    assert prefill_s(LLAMA, quantization("bf16"), L4, 1000) == pytest.approx(flops / 121e12)
    assert flops / 121e12 == pytest.approx(0.1154, abs=1e-4)


def test_latency_bounds_of_one_request_by_hand() -> None:
    bf16 = quantization("bf16")
    work = Workload((100,), (50,), "hand")
    got = latency_bounds(SMOL, bf16, CPU, work, 1)
    ttft = (2 * SMOL_BLOCKS * 100 + 2 * SMOL_TABLE) / 0.2624e12  # 81.1 ms, compute-bound
    step = ((SMOL_BLOCKS + SMOL_TABLE + SMOL_NORMS) * 2 + 23_040 * 125) / 18.3e9  # 14.86 ms
    assert got.ttft_p50_ms == pytest.approx(ttft * 1e3)
    assert got.e2e_p50_ms == pytest.approx((ttft + 49 * step) * 1e3)
    assert got.e2e_p50_ms == pytest.approx(809.2, abs=0.5)
    assert got.throughput_tok_per_s == pytest.approx(1 / step)
    # At 50% every time doubles, and the threshold passes at the bound's share of it.
    half = latency_bounds(SMOL, bf16, CPU, work, 1, efficiency=0.5)
    assert half.e2e_p95_ms == pytest.approx(2 * got.e2e_p95_ms)
    assert efficiency_to_pass(got.e2e_p50_ms, 1000.0) == pytest.approx(0.8092, abs=1e-3)


def test_percentiles_over_a_workload() -> None:
    # Twenty answers of 1..20 tokens, same prompt: e2e grows by one step per token.
    work = Workload((10,) * 20, tuple(range(1, 21)), "hand")
    got = latency_bounds(SMOL, quantization("bf16"), CPU, work, 4)
    assert got.e2e_p50_ms == pytest.approx(got.ttft_p50_ms + 9.5 * got.step_ms)
    assert got.e2e_p95_ms == pytest.approx(got.ttft_p50_ms + 18.05 * got.step_ms)


def test_memory_fit_and_a_model_that_does_not_fit() -> None:
    work = Workload((200,), (100,), "hand")
    fit = memory_fit(LLAMA, quantization("bf16"), L4, work, memory_utilization=0.9)
    assert fit.weights_gib == pytest.approx(2 * 8_030_261_248 / 2**30)
    room = 24 * 0.9 * 2**30 - 2 * 8_030_261_248
    assert fit.max_sequences == int(room // (131_072 * 250)) and fit.fits
    small = HardwareOption.model_validate(
        {**L4.model_dump(), "memory_gib": 16, "name": "16 GiB card"}
    )
    too_small = memory_fit(LLAMA, quantization("bf16"), small, work)
    assert not too_small.fits and "the weights need 15.0 GiB" in too_small.reason()


def test_a_bad_hardware_entry_is_named_and_left_out(tmp_path: Path) -> None:
    sheet = yaml.safe_load((REPO / "data/hardware.yaml").read_text())
    del sheet["options"]["nvidia-l4"]["memory_bandwidth_gbps"]
    sheet["options"]["nvidia-a10g"]["bf16_tflops"] = -1
    path = tmp_path / "hardware.yaml"
    path.write_text(yaml.safe_dump(sheet))
    with pytest.raises(LimitsError, match=r"options\.nvidia-l4\.memory_bandwidth_gbps is missing"):
        read_hardware(path)
    good, left_out = read_hardware(path, strict=False)
    assert set(left_out) == {"nvidia-l4", "nvidia-a10g"} and "nvidia-l4" not in good
    assert (
        "options.nvidia-a10g.bf16_tflops must be a positive number, got -1"
        in left_out["nvidia-a10g"]
    )


def test_a_model_entry_with_a_zero_figure_is_refused(tmp_path: Path) -> None:
    sheet = yaml.safe_load((REPO / "data/limits/models.yaml").read_text())
    sheet["models"]["llama-3.1-8b-instruct"]["kv_heads"] = 0
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(sheet))
    with pytest.raises(LimitsError, match=r"models\.llama-3\.1-8b-instruct\.kv_heads"):
        read_models(path)


def test_model_from_a_folders_config(tmp_path: Path) -> None:
    config = {
        "num_hidden_layers": 30,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    shape = model_from_config(tmp_path, name="smollm2-135m-instruct")
    assert shape == SMOL  # head_dim 576 / 9 = 64, as transformers derives it
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_size": None}))
    with pytest.raises(LimitsError, match="hidden_size"):
        model_from_config(tmp_path)


def test_every_hardware_entry_is_sourced_and_dated() -> None:
    good, left_out = read_hardware(REPO / "data/hardware.yaml", strict=False)
    assert not left_out
    for key in ("nvidia-l4", "nvidia-a10g", "nvidia-rtx-4090", "nvidia-l40s", "nvidia-h200"):
        assert good[key].source and good[key].as_of


def test_no_published_measurement_beats_its_bound() -> None:
    published = read_published(REPO / "data/limits/published.yaml")
    assert len(published) >= 5
    for m in published:
        model, quant, hw = MODELS[m.model], quantization(m.quantization), HARDWARE[m.hardware]
        work = Workload((m.input_tokens,), (m.output_tokens,), m.source)
        bound = throughput_bound(
            model, quant, hw, concurrency=m.concurrency, mean_context=work.mean_context()
        )
        if m.output_tok_per_s is not None:
            assert m.output_tok_per_s <= bound, (m.source, m.concurrency, bound)
        if m.ttft_p50_ms is not None:
            assert prefill_s(model, quant, hw, m.input_tokens) * 1e3 <= m.ttft_p50_ms


def _local_cpu_runs() -> list[Path]:
    """The fixture's vLLM run and any CPU vLLM run made in this checkout (eval/results)."""
    made = sorted((REPO / "eval/results").glob("*_vllm/run.json"))
    return [FIXTURE_RUNS / VLLM_RUN, *(p.parent for p in made)]


@pytest.mark.parametrize("folder", _local_cpu_runs(), ids=lambda p: p.name)
def test_the_measured_cpu_runs_stay_within_their_bound(folder: Path) -> None:
    run = load_run(folder)
    if run.record.manifest.hardware.get("gpus") or not len(run.requests):
        pytest.skip("not a CPU run with requests")
    setup = run_setup(run, MODELS, HARDWARE)
    assert setup.hardware_key == "cpu-2core-epyc" and setup.model == SMOL
    levels = level_efficiencies(run, setup)
    if folder.name == VLLM_RUN:
        assert [e.level for e in levels] == ["c1", "c8"]
    for e in levels:
        assert e.throughput_efficiency is not None and 0 < e.throughput_efficiency <= 1
        assert e.e2e_efficiency is not None and 0 < e.e2e_efficiency <= 1
        assert e.measured_ttft_p50_ms is not None and e.bound_ttft_p50_ms <= e.measured_ttft_p50_ms
