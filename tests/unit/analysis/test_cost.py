"""Cost per 1M output tokens: the formulas by hand, the pricing file and its validation."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from servegate.analysis.cost import (
    hosted_cost_per_1m_output_tokens,
    hosted_price_for_model,
    load_pricing,
    machine_price_for_run,
    self_hosted_cost_per_1m_output_tokens,
)
from servegate.core.errors import ConfigError, PricingError
from tests.helpers import PRICING


def _cpu(cores: int = 2) -> dict[str, Any]:
    return {"hardware": {"cpu_model": "AMD EPYC", "cpu_affinity_cores": cores, "gpus": []}}


def _gpu(name: str, count: int = 1) -> dict[str, Any]:
    return {"hardware": {"cpu_affinity_cores": 4, "gpus": [{"name": name}] * count}}


def _write_edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(PRICING.read_text())
    edit(data)
    path = tmp_path / "pricing.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_pricing_file() -> None:
    pricing = load_pricing(PRICING)
    mini, big = pricing.hosted["gpt-4o-mini"], pricing.hosted["gpt-4o"]
    assert (mini.input_usd_per_1m_tokens, mini.output_usd_per_1m_tokens) == (0.15, 0.60)
    assert (big.input_usd_per_1m_tokens, big.output_usd_per_1m_tokens) == (2.50, 10.00)
    assert pricing.machines["aws-g6.xlarge"].hourly_usd == 0.8048
    assert pricing.machines["aws-g5.xlarge"].hourly_usd == 1.006
    assert pricing.machines["aws-c7a.large"].hourly_usd == 0.10264
    assert pricing.machines["aws-c7a.large"].kind == "cpu"
    for entry in [*pricing.hosted.values(), *pricing.machines.values()]:
        assert entry.as_of and entry.source.startswith("https://")
    top = PRICING.read_text().split("currency:")[0]
    assert "LIST PRICES" in top and "NOT been re-verified" in top and "override" in top


def test_load_pricing_finds_the_default_file_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # e.g. a notebook running in notebooks/
    assert "gpt-4o-mini" in load_pricing().hosted


def test_load_pricing_reads_the_projects_file_from_its_notebooks_folder(lab_project: Path) -> None:
    """A relative path is the project's file (here with its own price), not the checkout's."""
    (lab_project / "data").mkdir()
    own = _write_edited(
        lab_project / "data",
        lambda d: d["machines"]["aws-c7a.large"].update(hourly_usd=0.5),
    )
    assert own == lab_project / "data" / "pricing.yaml"
    assert load_pricing().machines["aws-c7a.large"].hourly_usd == 0.5
    assert load_pricing("data/pricing.yaml").machines["aws-c7a.large"].hourly_usd == 0.5
    own.unlink()
    with pytest.raises(PricingError) as info:
        load_pricing()  # the checkout's file is no fallback: the project has none
    assert f"pricing file {lab_project / 'data' / 'pricing.yaml'} not found" in str(info.value)


def test_self_hosted_cost_by_hand() -> None:
    # 1 USD/h at 1000 tok/s: 3.6M tokens per hour, so 1/3.6 USD per 1M tokens.
    assert self_hosted_cost_per_1m_output_tokens(1.0, 1000.0) == pytest.approx(1 / 3.6)
    # 0.8048 USD/h at 500 tok/s: 1.8M tokens per hour -> 0.8048 / 1.8 = 0.447111...
    assert self_hosted_cost_per_1m_output_tokens(0.8048, 500) == pytest.approx(0.4471111111)
    # The CPU default at c8 of the fixture run: 0.10264 / (54.136 * 3600 / 1e6) = 0.52665...
    assert self_hosted_cost_per_1m_output_tokens(0.10264, 54.1364733450295) == pytest.approx(
        0.526653, abs=1e-6
    )
    for nothing in (None, 0, 0.0, math.nan):
        assert self_hosted_cost_per_1m_output_tokens(0.8048, nothing) is None
    assert self_hosted_cost_per_1m_output_tokens(0.0, 100.0) == 0.0  # a machine already paid for


def test_hosted_cost_is_the_measured_token_mix_per_output_token() -> None:
    # 1M in + 1M out at 2.50 / 10.00: 12.50 USD for 1M output tokens.
    assert hosted_cost_per_1m_output_tokens(1_000_000, 1_000_000, 2.50, 10.00) == pytest.approx(
        12.5
    )
    # Hosted fixture c8: (11,261 x 0.15 + 2,813 x 0.60) / 1e6 = 0.00337695 USD for 2,813 tokens.
    expected = 0.00337695 / 2813 * 1e6
    assert expected == pytest.approx(0.60 + 0.15 * 11261 / 2813)
    assert hosted_cost_per_1m_output_tokens(11261, 2813, 0.15, 0.60) == pytest.approx(expected)
    assert hosted_cost_per_1m_output_tokens(0, 500, 0.15, 0.60) == pytest.approx(0.60)
    assert hosted_cost_per_1m_output_tokens(100, 0, 0.15, 0.60) is None
    assert hosted_cost_per_1m_output_tokens(None, 10, 0.15, 0.60) is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: self_hosted_cost_per_1m_output_tokens(-1, 10),
            r"hourly_usd must be a finite number >= 0, got -1",
        ),
        (
            lambda: self_hosted_cost_per_1m_output_tokens(1, -5.0),
            r"output_tok_per_s must be a finite number >= 0, got -5.0",
        ),
        (
            lambda: hosted_cost_per_1m_output_tokens(10, 10, math.inf, 0.6),
            r"price_in_per_1m must be a finite number >= 0, got inf",
        ),
        (
            lambda: hosted_cost_per_1m_output_tokens(-3, 10, 0.15, 0.6),
            r"input_tokens must be a finite number >= 0, got -3",
        ),
    ],
)
def test_cost_arguments_are_checked(call, message: str) -> None:
    with pytest.raises(PricingError, match=message):
        call()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["machines"]["aws-g6.xlarge"].update(hourly=1.0),
            r"unknown key 'machines.aws-g6.xlarge.hourly' \(known keys there: as_of, gpu, ",
        ),
        (lambda d: d.update(currency_note="x"), r"unknown key 'currency_note' \(known keys there"),
        (
            lambda d: d["machines"]["aws-g6.xlarge"].update(hourly_usd=-0.5),
            r"machines.aws-g6.xlarge.hourly_usd must be greater than or equal to 0 "
            r"\(prices and counts cannot be negative\), got -0.5",
        ),
        (
            lambda d: d["hosted"]["gpt-4o"].update(output_usd_per_1m_tokens=-10),
            r"hosted.gpt-4o.output_usd_per_1m_tokens must be greater than or equal to 0",
        ),
        (
            lambda d: d["hosted"]["gpt-4o"].pop("as_of"),
            r"hosted.gpt-4o.as_of is missing \(every price needs as_of",
        ),
        (
            lambda d: d["machines"]["aws-c7a.large"].pop("source"),
            r"machines.aws-c7a.large.source is missing",
        ),
        (
            lambda d: d["hosted"]["gpt-4o"].update(as_of="last spring"),
            r"hosted.gpt-4o.as_of: must be a date written YYYY-MM or YYYY-MM-DD.*'last spring'",
        ),
        (
            lambda d: d["hosted"]["gpt-4o"].update(source="openai.com/api/pricing"),
            r"hosted.gpt-4o.source: must be the http\(s\) URL",
        ),
        (
            lambda d: d["defaults"].update(cpu="nope"),
            r"defaults.cpu names 'nope', which is not under machines",
        ),
        (
            lambda d: d["machines"]["aws-g6.xlarge"].pop("gpu"),
            r"a gpu machine needs gpu \(its GPU's name\) and gpu_count >= 1",
        ),
    ],
)
def test_pricing_validation_messages(tmp_path: Path, edit, message: str) -> None:
    path = _write_edited(tmp_path, edit)
    with pytest.raises(PricingError, match=message) as info:
        load_pricing(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_pricing_file_problems(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match=r"pricing file .*absent.yaml not found"):
        load_pricing(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(PricingError, match=r"must hold a mapping .* got list"):
        load_pricing(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("hosted: [unclosed\n")
    with pytest.raises(PricingError, match=r"is not valid YAML"):
        load_pricing(tmp_path / "bad.yaml")


def test_an_unquoted_yaml_date_is_accepted(tmp_path: Path) -> None:
    path = _write_edited(tmp_path, lambda d: d["hosted"]["gpt-4o"].update(as_of=date(2025, 1, 15)))
    assert "as_of: 2025-01-15\n" in path.read_text()  # a YAML date, not a string
    assert load_pricing(path).hosted["gpt-4o"].as_of == "2025-01-15"


def test_machine_price_order_of_precedence() -> None:
    pricing = load_pricing(PRICING)
    params = {"machine": "aws-g5.xlarge"}
    explicit = machine_price_for_run(pricing, params=params, manifest=_cpu(), hourly_usd=2.0)
    assert (explicit.hourly_usd, explicit.machine, explicit.basis) == (
        2.0,
        None,
        "hourly_usd parameter",
    )
    named = machine_price_for_run(pricing, params=params, manifest=_cpu())
    assert (named.machine, named.hourly_usd, named.basis) == (
        "aws-g5.xlarge",
        1.006,
        "params.machine",
    )
    default = machine_price_for_run(pricing, params={}, manifest=_cpu())
    assert (default.machine, default.hourly_usd) == ("aws-c7a.large", 0.10264)
    assert default.describe() == "aws-c7a.large 0.10264 USD/h (default cpu, as of 2025-01)"
    assert default.source == "https://aws.amazon.com/ec2/pricing/on-demand/"


def test_machine_price_by_hardware() -> None:
    pricing = load_pricing(PRICING)
    assert machine_price_for_run(pricing, manifest=_gpu("NVIDIA L4")).machine == "aws-g6.xlarge"
    assert machine_price_for_run(pricing, manifest=_gpu("NVIDIA A10G")).machine == "aws-g5.xlarge"
    big = machine_price_for_run(pricing, manifest=_cpu(16))
    assert big.machine == "aws-c7a.large"
    assert big.note == "priced as 2 vCPUs, the run had 16 cores"
    # L4 must not match L40S: the L40S has its own machine (whole-word match).
    assert machine_price_for_run(pricing, manifest=_gpu("NVIDIA L40S")).machine == "aws-g6e.xlarge"
    with pytest.raises(
        PricingError, match=r"no machine in data/pricing.yaml has 1 x 'NVIDIA H200'"
    ):
        machine_price_for_run(pricing, manifest=_gpu("NVIDIA H200"))
    with pytest.raises(PricingError, match=r"has 2 x 'NVIDIA L4'; add one under machines"):
        machine_price_for_run(pricing, manifest=_gpu("NVIDIA L4", 2))
    with pytest.raises(PricingError, match=r"params name machine 'aws-p5', which .* \(known: \["):
        machine_price_for_run(pricing, params={"machine": "aws-p5"}, manifest=_cpu())
    with pytest.raises(PricingError, match=r"manifest has no hardware section"):
        machine_price_for_run(pricing, manifest={})
    with pytest.raises(PricingError, match=r"no pricing file and no hourly_usd"):
        machine_price_for_run(None, manifest=_cpu())


def test_hosted_price_for_model() -> None:
    pricing = load_pricing(PRICING)
    assert hosted_price_for_model(pricing, "gpt-4o-mini")[0] == "gpt-4o-mini"
    assert hosted_price_for_model(pricing, "gpt-4o-mini-2024-07-18")[0] == "gpt-4o-mini"
    assert hosted_price_for_model(pricing, "gpt-4o-2024-08-06")[0] == "gpt-4o"
    with pytest.raises(PricingError, match=r"no hosted price for model 'calibration' \(known: \["):
        hosted_price_for_model(pricing, "calibration")
