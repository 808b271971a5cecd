"""Cache keys: what a stored result depends on, and nothing else.

``fingerprint(name, split, seed, overrides, strategy)`` hashes

* the model's **config** (its registry entry's settings plus ``overrides``), less the fields
  that cannot change results (``verbose``);
* the **seed** and, for a ``tf.distribute`` run, the strategy (its order of operations differs);
* the **content of every frame** the model can read: the training, validation and test
  interactions (every column) and the split's item and user side tables (titles, genres,
  demographics);
* the **library versions** (Keras, TensorFlow, NumPy, SciPy, pandas);
* the **behaviour** of the code: the normalised syntax tree of every ``recsys_lib`` module the
  model's module imports, directly or not, of the metrics (and what they import), and of the
  functions that turn a fitted model into a record (``RECORD_FUNCTIONS``). Normalising drops
  comments, docstrings and layout, so an edit to those keeps every record current, while any
  change to what the code does changes the key. It also blanks config defaults and the values
  of search spaces, which the config holds by value: setting one model's tuned defaults, or
  widening its space, leaves the other models of its module current; and it drops a config
  class's field declarations, so that declaring an inherited field (to set its default) does
  not re-key the module either. Code that only reads
  records (tables, plots, the command line) is not part of the key.

Two runs with the same fingerprint give the same numbers (training is deterministic on one
machine), so a stored result with a matching fingerprint stands in for a rerun.
"""
from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from .datakey import data_key

__all__ = ["fingerprint", "behaviour_key", "normalised_code", "module_closure", "data_key",
           "RECORD_MODULES", "RECORD_FUNCTIONS", "NUMERIC_ENV", "array_digest",
           "package_versions"]

PACKAGE = "recsys_lib"
HERE = Path(__file__).resolve().parent
#: modules every result depends on, part of every key (with what they import): the metrics,
#: the split (``train_matrix``, ``sequences``, ``exclusions`` are what models and metrics read),
#: and the package's ``__init__`` (it sets TensorFlow's defaults, e.g. oneDNN off)
RECORD_MODULES = ("recsys_lib.metrics", "recsys_lib.splits", "recsys_lib")
#: the functions that build, seed and record a run, part of every key
RECORD_FUNCTIONS = ("recsys_lib.experiment:run_experiment", "recsys_lib.experiment:_round",
                    "recsys_lib.report:long_tail_share", "recsys_lib.utils:set_seed",
                    "recsys_lib.registry:make_model", "recsys_lib.registry:Entry")
#: environment settings that change TensorFlow's numerics, part of every key
NUMERIC_ENV = ("TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "KERAS_BACKEND",
               "ONEDNN_MAX_CPU_ISA")
VERSIONED = ("keras", "tensorflow", "tensorflow-cpu", "numpy", "scipy", "pandas")


def _blank_space(node) -> None:
    """``space = {"dim": [16, 32], ...}`` in a class body becomes ``{"dim": None, ...}``: which
    settings are searched stays in the code (a record lists their values), the values tried
    do not (a tuning key holds its own model's space by value)."""
    for stmt in node.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
            else stmt.target if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "space" \
                and isinstance(stmt.value, ast.Dict):
            stmt.value.values = [v if k is None else ast.Constant(None)
                                 for k, v in zip(stmt.value.keys, stmt.value.values)]


def _drop_fields(node) -> None:
    """In a config class (``class Config``), drop the field declarations made with
    ``param(...)``: a key holds the config by value (every field, declared here or inherited),
    so the declaration adds nothing, and declaring an inherited field to set its own default
    (a search's optimum for ``lr``, say) must not re-key the module's other models."""
    if node.name != "Config":
        return
    keep = [stmt for stmt in node.body
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Call)
                    and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "param")]
    node.body = keep or [ast.Pass()]


def normalised_code(source: str, blank_settings: bool = False) -> str:
    """``source`` as a syntax-tree dump with docstrings removed (comments never reach it).

    With ``blank_settings`` two kinds of value are replaced by ``None``: the default of every
    config field (the first argument of a ``param(...)`` call) and the values tried of every
    config's search ``space``; and a ``Config`` class's field declarations (``param(...)``)
    are dropped, since the config is keyed by value. Both keys use this. A result's fingerprint holds its model's
    config by value, so another model's default in the same module is not part of it; and a
    search sets defaults (its optimum) and widens spaces, which must not make the records and
    searches of the module's other models stale. A tuning key holds its own model's settings
    and space by value.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if blank_settings and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "param" and node.args:
            node.args[0] = ast.Constant(None)
        if blank_settings and isinstance(node, ast.ClassDef):
            _blank_space(node)
            _drop_fields(node)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _module_file(module: str) -> Path:
    if module == PACKAGE:
        return HERE / "__init__.py"
    rel = module.split(".")[1:]
    path = HERE.joinpath(*rel)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py")


def _imports(module: str) -> set[str]:
    """``recsys_lib`` modules that ``module`` imports anywhere (top level or inside functions)."""
    path = _module_file(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    here = module if is_pkg else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n.split(".")[0] == PACKAGE and _module_file(n).is_file():
                out.add(n)
    out.discard(module)
    return out


@lru_cache(maxsize=None)
def module_closure(module: str) -> frozenset[str]:
    """``module`` and every ``recsys_lib`` module it imports, transitively."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(_imports(m) - seen)
    return frozenset(seen)


@lru_cache(maxsize=None)
def _module_code_hash(module: str) -> str:
    text = _module_file(module).read_text(encoding="utf-8")
    return hashlib.sha256(normalised_code(text, blank_settings=True).encode()).hexdigest()


@lru_cache(maxsize=None)
def _function_code_hash(target: str) -> str:
    module, name = target.split(":")
    tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return hashlib.sha256(normalised_code(ast.unparse(node)).encode()).hexdigest()
    raise LookupError(f"{target} not found")


def behaviour_key(model_module: str) -> str:
    """A hash of the normalised code a result of a model in ``model_module`` depends on, with
    config defaults and search spaces blanked (``normalised_code``): the caller's key holds
    the model's own settings by value."""
    mods = set(module_closure(model_module))
    for m in RECORD_MODULES:
        mods |= module_closure(m)
    mods -= {"recsys_lib.registry"}       # names and settings, hashed as the config
    h = hashlib.sha256()
    for m in sorted(mods):
        h.update(f"{m}:{_module_code_hash(m)}\n".encode())
    for f in RECORD_FUNCTIONS:
        h.update(f"{f}:{_function_code_hash(f)}\n".encode())
    return h.hexdigest()


def package_versions(names=VERSIONED) -> dict:
    """``{distribution: version}`` of the installed ones among ``names``."""
    import importlib.metadata as md

    out = {}
    for dist in names:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def fingerprint(name: str, split, seed: int = 0, overrides: dict | None = None,
                strategy: str | None = None) -> str:
    """The cache key of model ``name`` (registry) trained with ``overrides`` on ``split``."""
    from .registry import entry

    e = entry(name)
    config = e.config(**(overrides or {}))
    import os

    parts = {"model": name, "config": config.key_dict(), "seed": int(seed),
             "strategy": strategy, "data": data_key(split), "versions": package_versions(),
             "env": {k: os.environ.get(k) for k in NUMERIC_ENV},
             "code": behaviour_key(e.module)}
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def array_digest(arrays) -> str:
    """A short hash of a list of arrays (e.g. network weights)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
