"""The sweep file (``params/sweeps/*.yaml``): a base params file and the server settings to try.

``load_sweep(path)`` reads and checks all of it before any server starts: the base params
(layered like ``--params``: a list of files, each with its ``extends``), the ``params`` and
``search`` overrides, and every setting's server mapping against ``ServerConfig`` (an unknown
key is named with the known ones). Settings come from ``settings`` (a list) and ``grid`` (every
combination of the listed values); ``include_base`` (default true) adds the base itself, named
``base``. The sweep's id is its name and a hash of everything that decides what is measured,
so running the same sweep again finds its finished settings (``servegate.jobs.sweep``).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from servegate.analysis.search import SearchParams
from servegate.core.config import validate_params
from servegate.core.errors import ConfigError
from servegate.core.params_file import Params, load_layered_params, looks_secret, merge_params
from servegate.core.paths import find_input, resolve_path
from servegate.jobs.bench_params import BenchmarkParams
from servegate.jobs.search import SearchRunParams
from servegate.server.launch import ServerConfig

__all__ = ["BASE_SETTING", "Setting", "SweepFile", "SweepPlan", "load_sweep", "setting_slug"]

#: The name of the base setting (the base params' own server settings, unchanged).
BASE_SETTING = "base"
#: Server keys a setting cannot change: the sweep sets them from the params and the run folder.
_FIXED_KEYS = {"model", "served_model_name", "log_path", "progress"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class SweepFile(BaseModel):
    """A sweep file as written (docs/contracts.md, "Sweeps")."""

    model_config = ConfigDict(extra="forbid")

    base: str | list[str] = Field(
        description="the base params file(s), e.g. params/cpu_default.yaml; a list is layered"
    )
    name: str | None = Field(None, description="the sweep's name; default: the file's name")
    mode: Literal["search", "levels"] = Field(
        "search", description="search: a capacity search per setting; levels: the listed levels"
    )
    params: dict[str, Any] = Field(  # YAML boundary: BenchmarkParams' fields, checked below
        default_factory=dict, description="benchmark parameters over the base's"
    )
    search: dict[str, Any] = Field(  # YAML boundary: SearchParams' fields, checked below
        default_factory=dict, description="the capacity search's limits and budgets"
    )
    settings: list[dict[str, Any]] | None = Field(  # YAML boundary: ServerConfig's, checked
        None, description="a list of {name, server: {...}}, or of server mappings"
    )
    grid: dict[str, list[Any]] | None = Field(  # YAML boundary: ServerConfig's, checked
        None, description="server key: a list of values; every combination is a setting"
    )
    include_base: bool = Field(True, description="also measure the base settings, as 'base'")


@dataclass(frozen=True)
class Setting:
    """One setting of a sweep: its name, what it changes in the base's server settings, and
    the run label of its run folder."""

    name: str
    server: Params
    label: str

    def describe(self) -> str:
        """``enforce_eager=true, max_num_seqs=4``, or ``the base settings``."""
        return ", ".join(f"{k}={_inline(v)}" for k, v in _flat(self.server)) or "the base settings"

    def record(self) -> dict[str, object]:  # JSON boundary: run.json's ``setting``
        return {"name": self.name, "server": self.server}


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the base parameters, the settings in order, and the sweep's id.

    :param attached: the base params attach to a running server (``base_url``): every setting
        is measured against that one server, and its server settings are only recorded.
    """

    path: Path
    name: str
    sweep_id: str
    mode: Literal["search", "levels"]
    base: SearchRunParams | BenchmarkParams
    limits: SearchParams
    settings: tuple[Setting, ...]
    attached: bool

    def params_for(self, setting: Setting) -> SearchRunParams | BenchmarkParams:
        """The base parameters with the setting's server settings merged in, and its label."""
        server = merge_params(self.base.server, setting.server)
        return self.base.model_copy(update={"server": server, "run_label": setting.label})

    @property
    def results_dir(self) -> Path:
        return resolve_path(self.base.results_dir)


def load_sweep(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SweepPlan:
    """Read and validate a sweep file; nothing is started or written.

    :param overrides: benchmark parameters over the file's (e.g. ``{"results_dir": ...}``).
    :raises ConfigError: naming the field and the fix, for anything wrong in the file, its
        base params or any setting.
    """
    found = find_input(path)
    if not found.is_file():
        raise ConfigError(
            f"sweep file {path} not found; name one in params/sweeps/, e.g. "
            "params/sweeps/cpu_flags.yaml"
        )
    where = f"sweep file {found}"
    data = load_layered_params([found]).values  # YAML, secrets refused
    spec = validate_params(SweepFile, data, what=where)
    name = spec.name or found.stem
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: name {name!r} must be 1-32 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it starts each run folder's name); e.g. name: cpu_flags"
        )
    values = _base_values(spec, found, overrides or {})
    base, limits = _validate_base(spec.mode, values, where)
    settings = _settings(spec, name, where)
    for setting in settings:
        _check_server(base, setting, where)
    digest = _digest(spec.mode, base, settings)
    return SweepPlan(
        path=found,
        name=name,
        sweep_id=f"{name}-{digest}",
        mode=spec.mode,
        base=base,
        limits=limits,
        settings=tuple(settings),
        attached=bool(base.base_url),
    )


def _base_values(spec: SweepFile, sweep_path: Path, overrides: Mapping[str, Any]) -> Params:
    """The base params files layered, then the file's ``params`` and ``search``, then
    ``overrides``. A base file is looked for beside the sweep file, then as ``--params`` does."""
    names = [spec.base] if isinstance(spec.base, str) else spec.base
    if not names:
        raise ConfigError(
            f"sweep file {sweep_path}: base is an empty list; name a params file, e.g. "
            "base: params/cpu_default.yaml"
        )
    files = []
    for name in names:
        beside = sweep_path.parent / name
        files.append(beside if beside.is_file() else find_input(name))
    values = load_layered_params(files).values
    values = merge_params(values, spec.params)
    if spec.search:
        values = merge_params(values, {"search": spec.search})
    return merge_params(values, overrides)


def _validate_base(
    mode: str, values: Params, where: str
) -> tuple[SearchRunParams | BenchmarkParams, SearchParams]:
    """The base parameters and the limits the settings are judged by."""
    what = f"parameters of {where}"
    if values.get("backend", "vllm") != "vllm":
        raise ConfigError(
            f"{where}: the base params have backend {values.get('backend')!r}; a sweep varies "
            "vLLM's server settings, so its base must be a vllm params file (backend: vllm)"
        )
    if values.get("request_rate") is not None:
        raise ConfigError(
            f"{where}: the base params set request_rate; a sweep compares closed-loop "
            "concurrency levels, so set request_rate: null in the sweep's params"
        )
    if mode == "search":
        search = validate_params(SearchRunParams, values, what=what)
        return search, search.search
    limits = validate_params(
        SearchParams, values.pop("search", None) or {}, what=f"search of {what}"
    )
    return validate_params(BenchmarkParams, values, what=what), limits


def _settings(spec: SweepFile, sweep: str, where: str) -> list[Setting]:
    """The settings in order: the base (when included), the listed ones, then the grid's."""
    if spec.settings is None and spec.grid is None:
        raise ConfigError(
            f"{where}: no settings; add `settings:` (a list, e.g. - enforce_eager: true) or "
            "`grid:` (server key: a list of values, e.g. max_num_seqs: [4, 8])"
        )
    if spec.settings is not None and not spec.settings:
        raise ConfigError(
            f"{where}: settings is an empty list; list at least one, e.g. - enforce_eager: true"
        )
    found: list[tuple[str | None, Params]] = [_listed(item, where) for item in spec.settings or []]
    if spec.grid is not None:
        found += _grid(spec.grid, where)
    for _, server in found:
        _refuse_secrets(server, where)
    if spec.include_base and not any(not server for _, server in found):
        found.insert(0, (BASE_SETTING, {}))
    settings: list[Setting] = []
    for i, (given, server) in enumerate(found, 1):
        name = given or (setting_slug(server) if server else BASE_SETTING)
        label = f"{sweep}-{i}-{_slug(name)}"[:64]
        _unique(settings, name, server, where)
        settings.append(Setting(name, server, label))
    return settings


def _listed(item: Mapping[str, Any], where: str) -> tuple[str | None, Params]:
    """One entry of ``settings``: ``{name, server: {...}}`` or a mapping of server settings."""
    item = dict(item)
    name = item.pop("name", None)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: a setting's name must be text, got {name!r}; e.g. name: eager")
    server: Any = item
    if "server" in item:
        server = item.pop("server")
        if item:
            raise ConfigError(
                f"{where}: setting {name or server!r} has {', '.join(sorted(item))} beside "
                "`server`; a setting is {name, server: {...}} or a mapping of server settings"
            )
    if not isinstance(server, Mapping):
        raise ConfigError(
            f"{where}: setting {name!r}: server must be a mapping of server settings, got "
            f"{server!r}; e.g. server: {{enforce_eager: true}}"
        )
    return name, _nested(server)


def _grid(grid: Mapping[str, list[Any]], where: str) -> list[tuple[str | None, Params]]:
    """Every combination of the grid's values, the first key varying slowest."""
    if not grid:
        raise ConfigError(
            f"{where}: grid is empty; give server keys with lists of values, e.g. "
            "grid: {max_num_seqs: [4, 8], enforce_eager: [false, true]}"
        )
    for key, values in grid.items():
        if not values:
            raise ConfigError(
                f"{where}: grid.{key} is an empty list; give it the values to try, e.g. "
                f"{key}: [..., ...], or remove it"
            )
    keys = list(grid)
    return [
        (None, _nested(dict(zip(keys, combo, strict=True))))
        for combo in itertools.product(*grid.values())
    ]


def _nested(server: Mapping[str, Any]) -> Params:
    """Dotted keys (``env.VLLM_CPU_OMP_THREADS_BIND``) as nested mappings."""
    out: Params = {}
    for key, value in server.items():
        *parents, last = str(key).split(".")
        out = merge_params(out, _wrap(parents, {last: value}))
    return out


def _wrap(parents: list[str], inner: Params) -> Params:
    for parent in reversed(parents):
        inner = {parent: inner}
    return inner


def _refuse_secrets(server: Params, where: str) -> None:
    """Secrets never go in a sweep file: each setting's keys and flags are printed and saved
    (its name and run folder are made of them)."""
    for key, value in _flat(server):
        flags = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        for name in [key.rsplit(".", 1)[-1], *flags]:
            if looks_secret(name):
                raise ConfigError(
                    f"{where}: server setting {key!r} ({name!r}) looks like a secret; secrets "
                    "come from the environment only (a launched vLLM inherits it): export it "
                    "instead of putting it in a sweep file"
                )


def _unique(settings: list[Setting], name: str, server: Params, where: str) -> None:
    for other in settings:
        if other.name == name:
            raise ConfigError(
                f"{where}: two settings are named {name!r}; give each its own name (name: ...)"
            )
        if other.server == server:
            raise ConfigError(
                f"{where}: settings {other.name!r} and {name!r} change the same server settings "
                f"({other.describe()}); remove one (the base is included unless "
                "include_base: false)"
            )


def _check_server(base: SearchRunParams | BenchmarkParams, setting: Setting, where: str) -> None:
    """``ConfigError`` for an unknown server key (with the known ones) or a bad value."""
    known = sorted(set(ServerConfig.model_fields) - _FIXED_KEYS)
    for key in setting.server:
        if key in _FIXED_KEYS:
            raise ConfigError(
                f"{where}: setting {setting.name!r} sets server.{key}, which the sweep sets "
                "itself (from model_path, model and the run folder); remove it"
            )
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{where}: setting {setting.name!r}: unknown server setting {key!r}; {hint}"
                f"known: {', '.join(known)} (any other vLLM flag goes in extra_args)"
            )
    merged = merge_params(base.server, setting.server)
    settings = {"model": resolve_path(base.model_path), "served_model_name": base.model, **merged}
    validate_params(ServerConfig, settings, what=f"{where}: server settings of {setting.name!r}")


def _digest(mode: str, base: SearchRunParams | BenchmarkParams, settings: list[Setting]) -> str:
    """A short hash of what decides the measurements (not where they are kept)."""
    content = {
        "mode": mode,
        "params": base.model_dump(mode="json", exclude={"results_dir", "run_label"}),
        "settings": [[s.name, s.server] for s in settings],
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def setting_slug(server: Mapping[str, Any]) -> str:
    """A name fit for a run folder from server settings: ``enforce_eager-true_max_num_seqs-4``."""
    return _slug("_".join(f"{k}-{_inline(v)}" for k, v in _flat(server)))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-_.") or "setting"


def _flat(server: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in server.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out += _flat(value, f"{name}.")
        else:
            out.append((name, value))
    return out


def _inline(value: Any) -> str:
    """A value as YAML writes it inline: ``true``, ``4``, ``[--x, 1]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(map(_inline, value)) + "]"
    return json.dumps(value)
