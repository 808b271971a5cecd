"""Set a model's config defaults to the optimum of its committed shared-budget search.

    python benchmarks/set_defaults.py MODEL [MODEL ...] [--dry-run]

Reads ``results/<dataset>/tuning/<MODEL>.json`` and rewrites, in the model's source file, the
first argument of each ``param(...)`` of its ``Config`` whose name the search tuned, to the
value the search chose. Nothing else in the file moves, so no other model's key changes (keys
blank every default: ``recsys_lib.keys.normalised_code``). Refuses a search that is not
finished or whose optimum sits on an open edge of its space (``tuning.open_edges``), and a
changed setting that the class inherits instead of declaring.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path

from recsys_lib.registry import entry
from recsys_lib.tuning import best_seconds, load_tuning, open_edges


def _config_params(source: str, class_name: str) -> dict[str, ast.expr]:
    """``{setting: the AST node of its default}`` for ``param(...)`` fields of
    ``class <class_name>: class Config`` in ``source``."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for inner in node.body:
                if isinstance(inner, ast.ClassDef) and inner.name == "Config":
                    out = {}
                    for stmt in inner.body:
                        if (
                            isinstance(stmt, ast.AnnAssign)
                            and isinstance(stmt.target, ast.Name)
                            and isinstance(stmt.value, ast.Call)
                            and getattr(stmt.value.func, "id", None) == "param"
                            and stmt.value.args
                        ):
                            out[stmt.target.id] = stmt.value.args[0]
                    return out
    raise ValueError(f"no class {class_name} with a nested Config in the source")


def _offsets(source: str) -> list[int]:
    starts, pos = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    return starts


def new_source(name: str, best: dict) -> tuple[Path, str, dict]:
    """The model's source file, its text with the defaults set to ``best``, and the changes
    ``{setting: (old text, new text)}``."""
    cls = entry(name).model_class()
    owner = next(c for c in cls.__mro__ if "Config" in c.__dict__)
    path = Path(inspect.getsourcefile(owner))
    source = path.read_text()
    nodes = _config_params(source, owner.__name__)
    current = entry(name).config().as_dict()
    missing = [k for k in best if k not in nodes and current.get(k) != best[k]]
    if missing:
        raise ValueError(
            f"{owner.__name__}.Config does not declare {missing} with param(); "
            "set them where they are declared"
        )
    starts, edits, changes = _offsets(source), [], {}
    for k, node in nodes.items():
        if k not in best:
            continue
        a = starts[node.lineno - 1] + node.col_offset
        b = starts[node.end_lineno - 1] + node.end_col_offset
        old, new = source[a:b], repr(best[k])
        if ast.literal_eval(old) != best[k] or type(ast.literal_eval(old)) is not type(best[k]):
            edits.append((a, b, new))
            changes[k] = (old, new)
    for a, b, new in sorted(edits, reverse=True):
        source = source[:a] + new + source[b:]
    return path, source, changes


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="+")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    for name in args.models:
        rec = load_tuning(name, args.dataset)
        if rec is None or not rec.get("finished"):
            print(
                f"{name}: no finished search under results/{args.dataset}/tuning/", file=sys.stderr
            )
            return 1
        edges = open_edges(name, rec["best"], best_seconds(rec))
        if edges:
            print(
                f"{name}: the optimum is on an open edge ({'; '.join(edges)}): widen the "
                "space, do not set it",
                file=sys.stderr,
            )
            return 1
        path, source, changes = new_source(name, rec["best"])
        for k, (old, new) in changes.items():
            print(f"{name}: {k} {old} -> {new}")
        if not changes:
            print(f"{name}: the defaults already are the optimum")
        if changes and not args.dry_run:
            path.write_text(source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
