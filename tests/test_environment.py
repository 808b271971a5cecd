"""Packaging: environment.yml and pyproject.toml pin the same versions; CI runs the README's command."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(reqs):
    out = {}
    for r in reqs:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^;\s]+)", r)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def _pyproject_pins():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for items in meta["optional-dependencies"].values():
        reqs += [r for r in items if not r.startswith("recsys_lib")]
    return _pins(reqs)


def _environment_pins():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    reqs = [ln.strip()[2:] for ln in lines if ln.strip().startswith("- ") and "==" in ln]
    return _pins(reqs)


def test_environment_yml_matches_pyproject():
    py, env = _pyproject_pins(), _environment_pins()
    # plain `tensorflow` is the non-Linux-x86 twin of tensorflow-cpu: same version
    assert py.pop("tensorflow") == py["tensorflow-cpu"]
    assert py == env, {
        k: (py.get(k), env.get(k)) for k in set(py) | set(env) if py.get(k) != env.get(k)
    }


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert m, "README must mark its test command with <!-- test-command -->"
    command = m.group(1).strip()
    assert command in [ln.strip() for ln in ci.splitlines()]


def test_movielens_files_are_never_committed():
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    banned = re.compile(
        r"(u\.data|u\.item|u\.user|ml-100k\.(inter|item|user)|ratings\.dat|"
        r"ml-100k\.zip|ml-1m\.zip|recbole-.*\.whl)$"
    )
    assert not [f for f in files.splitlines() if banned.search(f)]


def _fresh_env(**env):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    base.update(env)
    code = (
        "import sys, os, recsys_lib; from recsys_lib.keys import NUMERIC_ENV; "
        "assert 'tensorflow' not in sys.modules; "
        "print(os.environ['ONEDNN_MAX_CPU_ISA'] or '-', 'ONEDNN_MAX_CPU_ISA' in NUMERIC_ENV)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.split()


def test_onednn_is_capped_at_avx2_before_tensorflow_loads_and_the_cap_is_in_every_key():
    """The cap that makes an AVX-512 computer run this book's sgemm kernel (Reproducibility):
    importing recsys_lib sets it, and does not itself load TensorFlow, so a notebook that imports
    recsys_lib first has it in place when TensorFlow's oneDNN starts."""
    assert _fresh_env() == ["AVX2", "True"]
    assert _fresh_env(ONEDNN_MAX_CPU_ISA="AVX")[0] == "AVX"  # a reader's own setting wins
    assert _fresh_env(ONEDNN_MAX_CPU_ISA="")[0] == "-"  # empty: no cap


def test_the_isa_cap_changes_the_cache_key(monkeypatch, tiny):
    from recsys_lib.keys import fingerprint
    from recsys_lib.splits import leave_last_out

    split = leave_last_out(tiny)
    capped = fingerprint("gru4rec", split)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    assert fingerprint("gru4rec", split) != capped


def test_the_two_commands_run_with_the_thread_counts_the_book_was_made_with():
    """book/reproducibility.md: more threads add sums in another order and train other weights."""
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for var in (
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        assert f"export {var} := 2" in makefile, var
