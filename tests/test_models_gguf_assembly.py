"""GGUF assembly from the real chunk packages into a temp cache: verification, the instant
path, corruption and truncation detection, missing packages. Costs ~20-30 s (four 470 MiB
writes/hashes)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from l2l.errors import ModelNotAvailable
from l2l.models import MODELS, ensure_gguf
from l2l.models import gguf_assembly as ga

SPEC = MODELS["qwen2.5-coder-0.5b"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("l2l_cache")
    path = ensure_gguf(SPEC.name, cache=d, progress=False)
    return d, path


def _forbid_rebuild(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("rebuilt or rehashed although the file was intact")

    monkeypatch.setattr(ga, "assemble", boom)
    monkeypatch.setattr(ga, "verify", boom)


def _rebuilt(path) -> bool:
    return path.stat().st_size == SPEC.size and ga._sha256_file(path, "", False) == SPEC.sha256


def test_assembles_verified_file_and_marker(cache):
    d, path = cache
    assert path == d / SPEC.filename
    assert _rebuilt(path)
    assert ga.is_assembled(SPEC, d)
    assert not [p for p in d.iterdir() if p.name.endswith(".part")]  # no temp files left behind
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"


def test_second_call_is_instant(cache, monkeypatch):
    d, path = cache
    _forbid_rebuild(monkeypatch)
    assert ensure_gguf(SPEC.name, cache=d, progress=False) == path


def test_cache_env_var(cache, monkeypatch):
    d, path = cache
    monkeypatch.setenv("L2L_CACHE", str(d))
    _forbid_rebuild(monkeypatch)
    assert ensure_gguf(SPEC.name, progress=False) == path


def test_truncated_file_is_rebuilt(cache):
    d, path = cache
    with open(path, "r+b") as f:
        f.truncate(SPEC.size // 3)
    assert not ga.is_assembled(SPEC, d)
    assert ensure_gguf(SPEC.name, cache=d, progress=False) == path
    assert _rebuilt(path)


def test_flipped_byte_is_rebuilt(cache):
    d, path = cache
    with open(path, "r+b") as f:  # same size, new mtime: the marker no longer matches -> full rehash
        f.seek(SPEC.size // 2)
        b = f.read(1)
        f.seek(SPEC.size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    assert ensure_gguf(SPEC.name, cache=d, progress=False) == path
    assert _rebuilt(path)


def test_flipped_byte_without_marker_is_rebuilt(cache):
    d, path = cache
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    ga._marker(path).unlink()
    assert ensure_gguf(SPEC.name, cache=d, progress=False) == path
    assert _rebuilt(path) and ga.is_assembled(SPEC, d)


def test_intact_file_without_marker_is_rehashed_not_rebuilt(cache, monkeypatch):
    d, path = cache
    ga._marker(path).unlink()
    inode = path.stat().st_ino
    monkeypatch.setattr(ga, "assemble", lambda *a, **k: pytest.fail("rebuilt an intact file"))
    assert ensure_gguf(SPEC.name, cache=d, progress=False) == path
    assert path.stat().st_ino == inode and ga.is_assembled(SPEC, d)


def test_missing_package_names_the_extra(tmp_path):
    spec = dataclasses.replace(SPEC, packages=SPEC.packages[:-1] + ("l2l_no_such_chunk_package",))
    with pytest.raises(ModelNotAvailable) as e:
        ensure_gguf(spec, cache=tmp_path, progress=False)
    msg = str(e.value)
    assert "l2l-no-such-chunk-package" in msg and "pip install 'l2l[model-0-5b]'" in msg
    assert not any(tmp_path.iterdir())
    assert not ga.is_installed(spec) and ga.is_installed(SPEC)


def test_wrong_part_sizes_or_hash_are_refused(tmp_path):
    with pytest.raises(ModelNotAvailable, match="add up to"):
        ensure_gguf(dataclasses.replace(SPEC, size=SPEC.size + 1), cache=tmp_path, progress=False)
    bad_hash = dataclasses.replace(SPEC, sha256="0" * 64)
    with pytest.raises(ModelNotAvailable, match="sha256"):
        ensure_gguf(bad_hash, cache=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # the temp file was removed, nothing published


def test_unknown_name():
    with pytest.raises(ModelNotAvailable, match="registered models"):
        ensure_gguf("qwen-9000")
