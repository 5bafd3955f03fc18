"""Read papermill parameter files (YAML), layered and overridden, with errors that name the fix.

One run's parameters are built in layers: ``--params A.yaml B.yaml`` (later files win, nested
mappings such as ``server.env`` merged key by key), where a file may start from another with
``extends: base.yaml`` (relative to that file's folder), then ``-p key=value`` overrides (the
value is YAML, a dotted key reaches into a nested mapping). Secrets never go in a layer: a key
that looks like one is refused, since everything here is printed and saved in run.json.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml

from servegate.core.errors import ConfigError
from servegate.core.paths import find_input

__all__ = [
    "EXTENDS",
    "LayeredParams",
    "Params",
    "load_layered_params",
    "load_params_file",
    "looks_secret",
    "merge_params",
    "parse_override",
]

#: A mapping of parameters as YAML gives it: the one loose type here, checked by the pydantic
#: model that reads it (``BenchmarkParams``, ``ReportParams``) before anything runs.
Params: TypeAlias = dict[str, Any]

#: The key with which a params file names the file it starts from.
EXTENDS = "extends"
# A key is a credential when one of its words (split at _ - . and case changes) is one of these:
# HF_TOKEN, VLLM_API_KEY, api_key, password. "max_tokens" is a count; so is "max_token" (a typo
# the validation names), hence the count words that make "token" a number of tokens.
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "auth", "credentials"}
_COUNT_WORDS = {"max", "min", "num", "n"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_SECRET_FIX = (
    "secrets come from the environment only (a launched vLLM inherits it): export it "
    "instead of putting it in a params file or -p"
)


def load_params_file(path: str | Path) -> Params:
    """Load a YAML mapping of parameters (one file as written: ``extends`` is not followed).

    :raises ConfigError: when the file is missing, not YAML, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"parameter file {path} not found; pick one in params/, e.g. params/cpu_default.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameter file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"parameter file {path} must hold a mapping of name: value, got {type(data).__name__}"
        )
    return data


def merge_params(base: Mapping[str, Any], top: Mapping[str, Any]) -> Params:
    """``top`` over ``base``: a mapping in both is merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            out[key] = merge_params(below, value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:  # YAML boundary: the value
    """``"server.max_num_seqs=16"`` -> ``(["server", "max_num_seqs"], 16)``; the value is YAML.

    :raises ConfigError: when there is no ``=``, no key, or the value is not YAML.
    """
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise ConfigError(
            f"-p {text!r} is not key=value; write e.g. -p n_prompts=20, "
            "-p concurrency=[1,8] or -p server.max_num_seqs=16"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(
            f"-p {key}: the value is not valid YAML ({problem}); quote a string, "
            f"e.g. -p '{key}=\"...\"'"
        ) from None
    return path, value


@dataclass(frozen=True)
class LayeredParams:
    """One run's parameters: where each layer came from, in order, and the result."""

    layers: tuple[str, ...]  # each file (its bases first), then each "-p key=value"
    values: Params = field(default_factory=dict)

    def describe(self) -> str:
        """The layers as an error message names them: ``"a.yaml + b.yaml + -p n_prompts=20"``."""
        return " + ".join(self.layers) or "the defaults"

    def to_yaml(self) -> str:
        """The layers, then the resulting parameters, as one YAML block (for the terminal)."""
        body = yaml.safe_dump(
            {"layers": list(self.layers), "params": self.values},
            sort_keys=False,
            default_flow_style=None,
            width=100,
        )
        return body.rstrip("\n")


def load_layered_params(
    files: Iterable[str | Path], overrides: Sequence[str] | Mapping[str, Any] = ()
) -> LayeredParams:
    """The parameters of ``--params FILES... -p OVERRIDES...`` (see the module docstring).

    Each file named here is found with ``find_input`` (the working directory, then the project
    root); its ``extends`` chain is followed first. ``overrides`` are ``-p`` texts, or a mapping
    of dotted keys to already-parsed values.

    :raises ConfigError: a missing or bad file, a cycle or a missing base in ``extends``, a
        malformed override, or a key that looks like a secret.
    """
    layers: list[str] = []
    values: Params = {}
    for name in files:
        values = merge_params(values, _load_with_bases(find_input(name), layers, ()))
    items = overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    for key, value in items:
        path = key.split(".") if isinstance(key, str) else list(key)
        shown = ".".join(path)
        _refuse_secrets({path[-1]: value}, f"-p {shown}")
        values = _set_dotted(values, path, value, shown)
        layers.append(f"-p {shown}={_inline(value)}")
    return LayeredParams(tuple(layers), values)


def _load_with_bases(path: Path, layers: list[str], chain: tuple[Path, ...]) -> Params:
    """``path``'s parameters over those of its ``extends`` chain; appends each file to layers."""
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(
            f"parameter file {path}: `extends` loops ({cycle}); remove `extends` from one of them"
        )
    data = load_params_file(path)
    base_name = data.pop(EXTENDS, None)
    base: Params = {}
    if base_name is not None:
        if not isinstance(base_name, str) or not base_name:
            raise ConfigError(
                f"parameter file {path}: `extends` must name one file, e.g. "
                f"`extends: cpu_default.yaml`, got {base_name!r}"
            )
        base_path = (path.parent / Path(base_name).expanduser()).resolve()
        if not base_path.is_file():
            raise ConfigError(
                f"parameter file {path} extends {base_name}, but {base_path} does not exist; "
                "name a file relative to this file's folder, e.g. `extends: cpu_default.yaml`"
            )
        base = _load_with_bases(base_path, layers, (*chain, path))
    _refuse_secrets(data, str(path))
    layers.append(str(path))
    return merge_params(base, data)


def _set_dotted(values: Params, path: list[str], value: Any, shown: str) -> Params:
    """``values`` with ``path`` set to ``value``, creating the nested mappings on the way."""
    if len(path) == 1:
        return {**values, path[0]: value}
    inner = values.get(path[0], {})
    if inner is None:
        inner = {}
    if not isinstance(inner, Mapping):
        raise ConfigError(
            f"-p {shown}: {path[0]} is {_inline(inner)}, not a mapping; "
            f"set it whole instead, e.g. -p {path[0]}=..."
        )
    return {**values, path[0]: _set_dotted(dict(inner), path[1:], value, shown)}


def looks_secret(name: str) -> bool:
    """Whether a key or flag name looks like a credential (``HF_TOKEN``, ``--api-key``)."""
    words = {w.lower() for w in _WORD.findall(name)}
    found = words & _SECRET_WORDS
    return bool(found - {"token"} or ("token" in found and not words & _COUNT_WORDS))


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    """``ConfigError`` when a key in ``data`` (at any depth) looks like a credential."""
    for key, value in data.items():
        if isinstance(key, str) and looks_secret(key):
            raise ConfigError(f"{where}: {key!r} looks like a secret; {_SECRET_FIX}")
        if isinstance(value, Mapping):
            _refuse_secrets(value, where)
        elif isinstance(value, list):
            if any(isinstance(v, str) and v.startswith("--") and looks_secret(v) for v in value):
                raise ConfigError(f"{where}: {key!r} passes a secret-looking flag; {_SECRET_FIX}")
            for item in value:  # a list of mappings: a sweep's settings
                if isinstance(item, Mapping):
                    _refuse_secrets(item, where)


def _inline(value: Any) -> str:
    """A value as one line of YAML (``[1, 8]``, ``null``, ``20``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
