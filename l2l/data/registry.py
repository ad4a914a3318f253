"""The dataset registry (`conf/data/*.yaml`) and `load_dataset`, the one entry point to every loader.

    >>> from l2l.data import load_dataset
    >>> exs = load_dataset("logiclm_folio", "dev", limit=5, seed=0)  # doctest: +SKIP
    >>> exs[0].question, exs[0].options, exs[0].answer  # doctest: +SKIP

`name_or_path` may be a registry name, a Logic-LM file or folder, a BBH task file, a JSONL/JSON
file of `{id, question, options, answer}` records, or `hf:<hub id or local path>[@<config>]`.
Benchmark files are read in place from `L2L_BENCHMARKS` (default: `shared/benchmarks` next to
the repository), never copied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from l2l.data.bbh import load_bbh
from l2l.data.example import Example, parse_split, subset
from l2l.data.jsonl import load_jsonl, read_json
from l2l.data.logiclm import load_logiclm
from l2l.errors import InputError

FORMATS = ("logiclm", "bbh", "jsonl", "hf")


def project_root() -> Path:
    """The repository root (the folder holding `conf/`)."""
    return Path(__file__).resolve().parents[2]


def benchmarks_root() -> Path:
    """Where the shared benchmark files live: `$L2L_BENCHMARKS`, else `shared/benchmarks` next to the repo."""
    env = os.environ.get("L2L_BENCHMARKS")
    if env:
        return Path(env).expanduser()
    parent = project_root().parent
    for candidate in (parent / "shared" / "benchmarks", parent / "benchmarks"):
        if candidate.is_dir():
            return candidate
    return parent / "shared" / "benchmarks"


@dataclass
class DatasetSpec:
    """One registered dataset (the keys of a `conf/data/<name>.yaml`; see those files for comments)."""

    name: str
    format: str
    path: str | None = None
    root: str = "benchmarks"
    split: str | None = None
    splits: list[str] = field(default_factory=list)
    hub_id: str | None = None
    config: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    tune_split: str | None = None
    report_split: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "DatasetSpec":
        known = set(cls.__dataclass_fields__) - {"name", "extra"}
        fmt = d.get("format")
        if fmt not in FORMATS:
            raise InputError(f"conf/data/{name}.yaml: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return cls(
            name=name,
            **{k: v for k, v in d.items() if k in known and v is not None},
            extra={k: v for k, v in d.items() if k not in known and k != "name"},
        )

    def resolve_path(self, split: str | None) -> Path:
        """The file (or folder) this spec reads for `split`; `{split}` in `path` is replaced."""
        if not self.path:
            raise InputError(f"dataset {self.name}: no `path` in its config")
        rel = self.path.replace("{split}", split or "")
        p = Path(rel).expanduser()
        if not p.is_absolute():
            base = project_root() if self.root == "project" else benchmarks_root()
            p = base / p
        return p

    def load(self, split: str | None) -> list[Example]:
        split = split or self.split
        if self.splits and split not in self.splits:
            raise InputError(f"dataset {self.name} has no split {split!r}; available: {', '.join(self.splits)}")
        if self.format == "hf":
            from l2l.data.hf_hub import load_hf

            return load_hf(self.hub_id or str(self.resolve_path(split)), split or "train",
                           columns=self.columns or None, config=self.config, dataset=self.name,
                           **self.extra.get("load_kwargs", {}))
        path = self.resolve_path(split)
        if self.format == "logiclm" and path.is_dir():
            path = path / f"{split}.json"
        if not path.exists():
            hint = " (set L2L_BENCHMARKS to the benchmarks folder)" if self.root != "project" else ""
            raise InputError(f"dataset {self.name}: {path} does not exist{hint}")
        return _LOADERS[self.format](path, self.name)


_LOADERS: dict[str, Callable[[Path, str], list[Example]]] = {
    "logiclm": load_logiclm,
    "bbh": load_bbh,
    "jsonl": load_jsonl,
}


def conf_dir() -> Path:
    return project_root() / "conf" / "data"


def read_registry(folder: Path | None = None) -> dict[str, DatasetSpec]:
    """Parse every `conf/data/*.yaml` that declares a `format:` into a DatasetSpec.

    A broken config does not hide the others; loading it by name reports what is wrong.
    """
    import yaml

    folder = folder or conf_dir()
    specs: dict[str, DatasetSpec] = {}
    for f in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            d = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            if isinstance(d, dict) and "format" in d:
                specs[f.stem] = DatasetSpec.from_dict(f.stem, d)
        except (yaml.YAMLError, InputError, TypeError):
            continue
    return specs


# name -> DatasetSpec; read once on import of l2l.data (a few small YAML files).
DATASETS: dict[str, DatasetSpec] = read_registry()


def _load_path(path: Path, split: str | None) -> list[Example]:
    """Guess the format of a file or folder given on the command line."""
    if path.is_dir():
        f = path / f"{split or 'dev'}.json"
        if not f.exists():
            have = ", ".join(sorted(p.stem for p in path.glob("*.json"))) or "none"
            raise InputError(f"{path}: no {f.name} in this folder (splits here: {have})")
        return load_logiclm(f, path.name)
    if split:
        raise InputError(f"{path} is a single file: use no split, or a slice like '[20:]'")
    if path.suffix.lower() == ".jsonl":
        return load_jsonl(path)
    if path.suffix.lower() != ".json":
        raise InputError(f"{path}: expected a .json or .jsonl file")
    data = read_json(path)
    if isinstance(data, dict) and "examples" in data:
        return load_bbh(path)
    if isinstance(data, list) and data and isinstance(data[0], dict) and "context" in data[0] and "options" in data[0]:
        return load_logiclm(path, f"{path.parent.name}_{path.stem}")
    return load_jsonl(path)


def load_dataset(
    name_or_path: str,
    split: str | None = None,
    *,
    limit: int | None = None,
    seed: int = 0,
    columns: dict[str, str] | None = None,
) -> list[Example]:
    """Examples of a registered dataset, a file, or `hf:<hub id>`; optionally a seeded subset.

    `split` is a split name ("dev"), optionally sliced ("dev[20:]"); for a single file only a
    slice ("[20:]"). `limit` picks a deterministic random subset (nested across limits for one
    seed), kept in source order. `columns` maps Example fields to columns for `hf:` datasets.
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise InputError("dataset must be a registry name, a file path or hf:<hub id>")
    name = name_or_path.strip()
    base, sl = parse_split(split)
    if name in DATASETS:
        examples = DATASETS[name].load(base)
    elif name.startswith("hf:"):
        from l2l.data.hf_hub import load_hf

        hub_id, _, config = name[3:].partition("@")
        if not hub_id:
            raise InputError("hf: needs a hub id or a local path, e.g. hf:tasksource/folio")
        examples = load_hf(hub_id, base or "train", columns=columns, config=config or None)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            if (conf_dir() / f"{name}.yaml").exists():
                raise InputError(f"conf/data/{name}.yaml is not a valid dataset config (needs `format:` one of {', '.join(FORMATS)})")
            raise InputError(
                f"unknown dataset {name!r}: not a registered name ({', '.join(sorted(DATASETS)) or 'none registered'}), "
                "not an existing file, and not hf:<hub id>"
            )
        examples = _load_path(path, base)
    if sl is not None:
        examples = examples[sl]
    seen: set[str] = set()
    for e in examples:
        if e.id in seen:
            raise InputError(f"{name}: duplicate example id {e.id!r} (ids must be unique for resumable evaluation)")
        seen.add(e.id)
    return subset(examples, limit, seed)
