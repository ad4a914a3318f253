"""`l2l models`: list the registered models, print an assembled GGUF path, export a GGUF to a
transformers checkpoint.

    l2l models list
    l2l models path qwen2.5-coder-0.5b
    l2l models export-hf qwen2.5-coder-0.5b ./qwen-0.5b-hf
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


def _list(as_json: bool) -> int:
    rows = _rows()
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
    print("\nAlso accepted by --model: a .gguf file, a transformers directory, a hub id "
          "(Qwen/Qwen2.5-Coder-7B-Instruct), openai:<model>, vllm:<hub id>.")
    return 0


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "models_action", None) or "list"
    if action == "list":
        return _list(getattr(args, "json", False))
    if action == "path":
        from l2l.models import ensure_gguf

        print(ensure_gguf(args.name, progress=not args.no_progress))
        return 0
    if action == "export-hf":
        from l2l.models.export_hf import export_hf

        out = export_hf(args.name, args.out_dir, dtype=args.dtype)
        print(out)
        return 0
    raise AssertionError(action)  # argparse only allows the actions above
