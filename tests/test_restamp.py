"""benchmarks/restamp_keys.py: carrying committed records over a change of the key scheme."""

import importlib.util
import json
import subprocess
import types
from pathlib import Path

import pytest

from recsys_lib import keys
from recsys_lib.experiment import cached_experiment
from recsys_lib.testing import block_split

ROOT = Path(__file__).resolve().parents[1]
OLD = "0123456789abcdef"


def _script():
    spec = importlib.util.spec_from_file_location(
        "restamp_keys", ROOT / "benchmarks" / "restamp_keys.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_restamping_rewrites_the_current_records_and_leaves_stale_ones(
    tmp_path, monkeypatch, capsys
):
    """Under a fake old scheme whose key for every experiment is ``OLD``: a record current under
    it gets today's key, in its JSON, in the generated pages and in the names of the files that
    carry the key; a record stale under the old scheme is listed and left as it was."""
    script = _script()
    results, generated = tmp_path / "results", tmp_path / "generated"
    monkeypatch.setenv("RECSYS_RESULTS", str(results))
    split = block_split()
    rec = cached_experiment("ease", split, seed=0, dataset="toy")
    new = rec["fingerprint"]
    seeds = results / "toy" / "seeds"
    current, stale = seeds / "ease-seed0.json", seeds / "ease-seed1.json"
    current.write_text(json.dumps({**rec, "fingerprint": OLD}))
    stale.write_text(json.dumps({**rec, "seed": 1, "fingerprint": "f" * 16}))
    (results / "toy" / "models").mkdir(parents=True)
    weights = results / "toy" / "models" / f"ease-{OLD}.npz"
    weights.write_bytes(b"weights")
    generated.mkdir()
    (generated / "runs.md").write_text(f"ease seed 0: {OLD}\n")

    old_scheme = types.SimpleNamespace(fingerprint=lambda *parts: OLD)
    monkeypatch.setattr(script, "RESULTS", results)
    monkeypatch.setattr(script, "TEXT_DIRS", (results, generated))
    monkeypatch.setattr(script, "old_keys", lambda rev: old_scheme)
    monkeypatch.setattr(script, "load_split", lambda dataset: split)

    assert script.main(["OLD", "--dataset", "toy", "--check"]) == 0
    out = capsys.readouterr().out
    assert "1 current keys, 1 change" in out and "ease-seed1.json" in out
    assert json.loads(current.read_text())["fingerprint"] == OLD  # --check writes nothing

    assert script.main(["OLD", "--dataset", "toy"]) == 0
    assert json.loads(current.read_text())["fingerprint"] == new
    assert json.loads(stale.read_text())["fingerprint"] == "f" * 16
    assert (generated / "runs.md").read_text() == f"ease seed 0: {new}\n"
    assert not weights.exists() and (weights.parent / f"ease-{new}.npz").read_bytes() == b"weights"
    assert new == keys.fingerprint("ease", split, 0, {}, None)


def test_every_committed_key_is_current_under_todays_scheme(capsys):
    """Restamping against this commit's own keys.py changes nothing and finds nothing stale:
    the script still reads every kind of committed record (a learning-curve point on its own
    split, a search under the tuner's key) the way the tests that check them do."""
    try:
        subprocess.run(
            ["git", "cat-file", "-e", "HEAD:recsys_lib/keys.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("restamp_keys.py needs the repository's git history (a clone, not a copy)")
    assert _script().main(["HEAD", "--check"]) == 0
    out = capsys.readouterr().out
    assert " 0 change under the new scheme" in out and "left alone" not in out, out
