"""`l2l models`: list the registered and trained models, print an assembled GGUF path, export a
GGUF to a transformers checkpoint, pack trained LoRA adapters into a trained model.

    l2l models list
    l2l models path qwen2.5-coder-0.5b
    l2l models export-hf qwen2.5-coder-0.5b ./qwen-0.5b-hf
    l2l models pack l2l-0.5b --base qwen2.5-coder-0.5b --from runs/bilevel \
        --command "python train.py +experiment=bilevel ..." --data "synthetic families, seed 1"
"""

from __future__ import annotations

import argparse
import json

HELP = "list, locate and export the offline models"
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_action", metavar="ACTION")
    p = sub.add_parser("list", help="registered models: backend, size, installed/assembled, default")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p = sub.add_parser("path", help="print the assembled GGUF path of a model (assembling it if needed)")
    p.add_argument("name", help="registered model name (see `l2l models list`)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p = sub.add_parser("export-hf", help="write a plain transformers checkpoint from a model's GGUF")
    p.add_argument("name", help="registered model name or a .gguf file")
    p.add_argument("out_dir", help="output directory (must not exist or be empty)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                   help="weight dtype of the checkpoint (default float32: exact dequantised values)")
    p = sub.add_parser("pack", help="turn training's PEFT adapters into a trained model (GGUF LoRA files + MANIFEST.json)")
    p.add_argument("name", help="name of the trained model (what --model takes)")
    p.add_argument("--base", required=True, help="registered base model the adapters were trained on")
    p.add_argument("--from", dest="run_dir", help="training output folder: uses <dir>/adapters/{formulator,generator}")
    p.add_argument("--formulator", help="PEFT folder of the formulator adapter (instead of --from)")
    p.add_argument("--generator", help="PEFT folder of the generator adapter (instead of --from)")
    p.add_argument("--command", required=True, help="the exact command that trained the adapters (recorded in the manifest)")
    p.add_argument("--data", required=True, help="the data they were trained on (recorded in the manifest)")
    p.add_argument("--description", default="", help="one line shown by `l2l models list`")
    p.add_argument("--out", help="bundle folder (default: l2l/models/adapters/<name>, shipped with the package)")
    p.add_argument("--dtype", default="f16", choices=("f16", "f32"), help="adapter weight type (default f16)")


def _rows() -> list[dict]:
    from l2l.config import DEFAULT_MODEL
    from l2l.models.gguf_assembly import gguf_path, is_assembled, is_installed
    from l2l.models.registry import MODELS

    return [
        {
            "name": s.name,
            "backend": s.backend,
            "size_bytes": s.size,
            "installed": is_installed(s),
            "assembled": is_assembled(s),
            "default": s.name == DEFAULT_MODEL,
            "path": str(gguf_path(s)),
            "extra": s.extra,
            "description": s.description,
        }
        for s in MODELS.values()
    ]


def _trained_rows(problems: dict) -> list[dict]:
    from l2l.config import DEFAULT_MODEL
    from l2l.models.gguf_assembly import is_assembled, is_installed
    from l2l.models.registry import MODELS, trained_models

    rows = []
    for t in trained_models(problems).values():
        base = MODELS[t.base]
        try:
            t.verify()
            verified = "ok"
        except Exception as e:  # noqa: BLE001 -- shown in the listing, raised again when loaded
            verified = str(e)
        rows.append({
            "name": t.name,
            "backend": "llamacpp+lora",
            "size_bytes": t.size,
            "installed": is_installed(base),
            "assembled": is_assembled(base),
            "default": t.name == DEFAULT_MODEL,
            "path": str(t.directory),
            "extra": base.extra,
            "description": t.description,
            "base": t.base,
            "adapters": {r: str(a.path) for r, a in t.adapters.items()},
            "verified": verified,
            "trained_from": t.trained_from,
        })
    return rows


def _list(as_json: bool) -> int:
    problems: dict = {}
    rows = _rows() + _trained_rows(problems)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("NAME", "BACKEND", "SIZE", "INSTALLED", "ASSEMBLED", "DEFAULT")
    table = [
        (r["name"], r["backend"], f"{r['size_bytes'] / 2**20:,.0f} MiB", "yes" if r["installed"] else f"no (pip install 'l2l[{r['extra']}]')",
         "yes" if r["assembled"] else "no", "*" if r["default"] else "")
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    for line in (head, *table):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    trained = [r for r in rows if r["backend"] == "llamacpp+lora"]
    if trained or problems:
        print("\nTrained models (a base model + a GGUF LoRA adapter per policy; SIZE is the adapters'):")
    for r in trained:
        src = r["trained_from"]
        print(f"  {r['name']}: {r['description'] or 'trained L2L policies'}")
        print(f"    base:     {r['base']}")
        print(f"    adapters: {', '.join(f'{k} {v}' for k, v in r['adapters'].items())} (sha256: {r['verified']})")
        print(f"    command:  {src.get('command', '?')}")
        print(f"    data:     {src.get('data', '?')}")
    for d, message in problems.items():
        print(f"  {d}: unreadable ({message})")
    print("\nAlso accepted by --model: a .gguf file, a PEFT adapter folder from training (on a registered base: "
          "llama.cpp), a transformers directory, a hub id (Qwen/Qwen2.5-Coder-7B-Instruct), openai:<model>, vllm:<hub id>.")
    return 0


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "models_action", None) or "list"
    if action == "list":
        return _list(getattr(args, "json", False))
    if action == "path":
        from l2l.models import ensure_gguf
        from l2l.models.registry import MODELS, find_trained

        trained = None if args.name in MODELS else find_trained(args.name)
        if trained is not None:  # the base GGUF, then each verified adapter
            print(ensure_gguf(trained.base, progress=not args.no_progress))
            for path in trained.verify().values():
                print(path)
            return 0
        print(ensure_gguf(args.name, progress=not args.no_progress))
        return 0
    if action == "export-hf":
        from l2l.models.export_hf import export_hf

        out = export_hf(args.name, args.out_dir, dtype=args.dtype)
        print(out)
        return 0
    if action == "pack":
        return _pack(args)
    raise AssertionError(action)  # argparse only allows the actions above


def _pack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from l2l.errors import InputError
    from l2l.models.lora_gguf import pack
    from l2l.models.registry import ADAPTERS_DIR, ROLES

    dirs = {r: getattr(args, r) for r in ROLES}
    if args.run_dir:
        dirs = {r: dirs[r] or str(Path(args.run_dir) / "adapters" / r) for r in ROLES}
    missing = [r for r in ROLES if not dirs[r]]
    if missing:
        raise InputError(f"no adapter for {', '.join(missing)}: pass --from RUN_DIR or --{missing[0]} DIR")
    import shlex
    import sys

    out = pack(args.name, args.base, dirs, args.out or ADAPTERS_DIR / args.name, command=args.command,
               data=args.data, description=args.description, dtype=args.dtype,
               extra={"packed_with": shlex.join(["l2l", *sys.argv[1:]])})
    print(out)
    return 0
