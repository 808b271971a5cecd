"""The command line: JSON on stdout, the same object on disk, clear errors."""

import json
import os
import subprocess
import sys

KEYS = {"model", "dataset", "seed", "valid", "test", "train_seconds", "params"}


def _run(args, tmp_path, **env):
    e = dict(os.environ, RECSYS_RESULTS=str(tmp_path / "results"), **env)
    return subprocess.run(
        [sys.executable, "-m", "recsys_lib", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=600,
    )


def test_evaluate_prints_and_writes_one_json_object(tmp_path, ml100k):
    out = _run(["evaluate", "pop", "--seed", "3"], tmp_path)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert KEYS <= set(rec)
    assert rec["model"] == "pop" and rec["dataset"] == "ml-100k" and rec["seed"] == 3
    # the summary results/<dataset>/<model>.json is seed 0's; other seeds write their own record
    assert not (tmp_path / "results" / "ml-100k" / "pop.json").exists()
    out = _run(["evaluate", "pop", "--seed", "0"], tmp_path)
    assert out.returncode == 0, out.stderr
    rec0 = json.loads(out.stdout)
    for part in ("valid", "test"):
        assert set(rec[part]) == {"HR@10", "NDCG@10", "MRR@10"}
    saved = json.loads((tmp_path / "results" / "ml-100k" / "pop.json").read_text())
    assert saved == rec0
    per_user = json.loads(
        (tmp_path / "results" / "ml-100k" / "seeds" / "pop-seed3.json").read_text()
    )
    assert len(per_user["per_user_test_ndcg"]) == 943


def test_unknown_model_is_rejected(tmp_path):
    out = _run(["evaluate", "no-such-model"], tmp_path)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_data_fetch_reports_the_dataset(tmp_path, ml100k):
    out = _run(["data", "fetch"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "100,000 ratings" in out.stdout and "943 users" in out.stdout


def test_fetch_failure_is_a_clear_one_line_error(tmp_path):
    # an empty cache and a pip that cannot reach any index
    out = _run(
        ["data", "fetch"],
        tmp_path,
        RECSYS_DATA=str(tmp_path / "empty"),
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS="",
        PIP_RETRIES="0",
        PIP_TIMEOUT="2",
        no_proxy="*",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: could not obtain ml-100k")
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "empty" / "ml-100k").exists()
