"""ServerConfig validation, the vLLM command line, and a free port (no vLLM started)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from servegate.core.errors import ConfigError
from servegate.server.launch import ServerConfig, build_command, find_free_port


def test_unknown_parameter_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'max_num_seq' \(known: .*max_num_seqs"
    ):
        ServerConfig.from_params({"model": "m", "max_num_seq": 8})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": "m", "port": 0}, "port"),
        ({"model": "m", "port": 70000}, "port"),
        ({"model": "m", "max_model_len": -1}, "max_model_len"),
        ({"model": "m", "gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"model": "m", "warmup_requests": "two"}, "warmup_requests"),
        ({}, "model"),
    ],
)
def test_bad_values_name_the_field_and_value(params: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"invalid vLLM server parameters: {field}: "):
        ServerConfig.from_params(params)


def test_a_fractional_kv_cache_is_refused_with_the_way_to_get_one() -> None:
    """vLLM's CPU build reads VLLM_CPU_KVCACHE_SPACE as an int: "0.1" failed its start (found by
    benchmarks/memory_flags.py). Refuse it here, in one line, with the flag that does work."""
    with pytest.raises(ConfigError) as info:
        ServerConfig.from_params({"model": "m", "kv_cache_space_gib": 0.5})
    message = str(info.value)
    assert "kv_cache_space_gib: Input should be a valid integer" in message
    assert "got 0.5" in message and "--kv-cache-memory-bytes" in message
    assert (
        ServerConfig.from_params({"model": "m", "kv_cache_space_gib": 2.0}).kv_cache_space_gib == 2
    )


def test_cpu_command_sets_kv_cache_env_and_offline_mode() -> None:
    cfg = ServerConfig(model=Path("data/models/x"), max_num_seqs=16, kv_cache_space_gib=3)
    argv, env = build_command(cfg, "cpu", 8123)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--max-num-seqs") + 1] == "16"
    assert argv[argv.index("--dtype") + 1] == "float32"  # CPU_DTYPE: bf16 answers wrongly there
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert "--gpu-memory-utilization" not in argv


def test_gpu_command_uses_gpu_flags_not_cpu_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    cfg = ServerConfig(
        model=Path("m"),
        gpu_memory_utilization=0.85,
        quantization="awq",
        enforce_eager=True,
        extra_args=["--enable-prefix-caching"],
    )
    argv, env = build_command(cfg, "cuda", 8000)
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.85"
    assert argv[argv.index("--dtype") + 1] == "auto"
    assert argv[argv.index("--quantization") + 1] == "awq"
    assert "--enforce-eager" in argv and argv[-1] == "--enable-prefix-caching"
    assert "VLLM_CPU_KVCACHE_SPACE" not in env


def test_memory_flag_for_the_wrong_engine_is_refused() -> None:
    with pytest.raises(ConfigError, match="gpu_memory_utilization applies to a GPU vLLM only"):
        build_command(ServerConfig(model=Path("m"), gpu_memory_utilization=0.9), "cpu", 1)
    with pytest.raises(ConfigError, match="kv_cache_space_gib applies to vLLM's CPU build only"):
        build_command(ServerConfig(model=Path("m"), kv_cache_space_gib=4), "cuda", 1)


def test_find_free_port_gives_a_bindable_port() -> None:
    port = find_free_port()
    assert 1024 <= port <= 65535  # an ephemeral port: never 0 or a privileged one
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if the port was not free
        sock.listen()
        assert sock.getsockname() == ("127.0.0.1", port)
        # while it is taken, the port offered is another one
        assert find_free_port() != port
