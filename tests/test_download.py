"""The data layer: verified downloads, safe extraction, identical frames from both sources."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import RATINGS

from recsys_lib import download as dl
from recsys_lib.download import ChecksumError, DownloadError, download_url, safe_extract
from recsys_lib.movielens import ML100K_SOURCES, load_movielens


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _fixture_sources(tmp_path, gl_bytes, rb_bytes):
    """Sources shaped like the real ones, pointing at local fixture archives."""
    gl_file = tmp_path / "remote" / "ml-100k.zip"
    gl_file.parent.mkdir(parents=True, exist_ok=True)
    gl_file.write_bytes(gl_bytes)
    gl, rb = ML100K_SOURCES
    gl = replace(gl, location=gl_file.as_uri(), sha256=_sha(gl_bytes))
    rb = replace(rb, sha256=_sha(rb_bytes))
    return gl, rb


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_download_verifies_and_renames(tmp_path):
    payload = b"x" * 100_000
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    dest = tmp_path / "cache" / "file.bin"
    download_url(src.as_uri(), dest, _sha(payload), progress=False)
    assert dest.read_bytes() == payload
    assert _leftovers(dest.parent) == ["file.bin"]


def test_corrupt_download_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"corrupted bytes")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_url(src.as_uri(), cache / "file.bin", "0" * 64, progress=False)
    assert _leftovers(cache) == []


def test_truncated_download_leaves_nothing(tmp_path, monkeypatch):
    class Truncated:
        headers = {"Content-Length": "1000000"}

        def __init__(self):
            self.sent = False

        def read(self, n):
            if not self.sent:
                self.sent = True
                return b"y" * 1000
            raise ConnectionResetError("connection dropped mid-transfer")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(dl.urllib.request, "urlopen", lambda url, timeout: Truncated())
    cache = tmp_path / "cache"
    with pytest.raises(ConnectionResetError):
        download_url("https://example.invalid/f.zip", cache / "f.zip", "0" * 64, progress=False)
    assert _leftovers(cache) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt"])
def test_safe_extract_refuses_paths_outside_target(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(evil, "pwned")
    dest = tmp_path / "out" / "target"
    with pytest.raises(ValueError, match="outside the target folder"):
        safe_extract(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert _leftovers(tmp_path / "out") == []


def test_safe_extract_selected_members(tmp_path, grouplens_zip_bytes):
    archive = tmp_path / "a.zip"
    archive.write_bytes(grouplens_zip_bytes)
    out = safe_extract(archive, tmp_path / "x", {"ml-100k/u.data": "u.data"})
    assert [p.name for p in out.iterdir()] == ["u.data"]
    with pytest.raises(DownloadError, match="no member"):
        safe_extract(archive, tmp_path / "y", {"ml-100k/missing": "m"})
    assert not (tmp_path / "y").exists()


def test_both_sources_give_identical_frames(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes):
    gl, rb = _fixture_sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    a = load_movielens("ml-100k", [gl], home=tmp_path / "home-a", progress=False)
    home_b = tmp_path / "home-b"
    (home_b / "downloads").mkdir(parents=True)
    (home_b / "downloads" / rb.filename).write_bytes(recbole_wheel_bytes)  # as if pip fetched it
    b = load_movielens("ml-100k", [rb], home=home_b, progress=False)
    assert (a.source, b.source) == ("grouplens", "recbole-wheel")
    for name in ("ratings", "items", "users"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    items = a.items.set_index("item_id")
    assert items.loc[10, "year"] == 1995  # from the title, not the 1996 release date
    assert items.loc[11, "title"] == "Seven (Se7en)"
    assert items.loc[543, "title"] == "Misérables, Les"
    assert items.loc[267, "title"] == "unknown" and pd.isna(items.loc[267, "year"])
    assert items.loc[1373, "unknown"] == 1 and items.loc[1, "Animation"] == 1
    assert list(a.ratings.timestamp) == [r[3] for r in RATINGS]


def test_cache_is_used_without_network(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes):
    gl, rb = _fixture_sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    home = tmp_path / "home"
    first = load_movielens("ml-100k", [gl], home=home, progress=False)
    offline = replace(gl, location="https://nowhere.invalid/ml-100k.zip")
    second = load_movielens("ml-100k", [offline], home=home, progress=False)
    pd.testing.assert_frame_equal(first.ratings, second.ratings)


def test_falls_back_to_second_source(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes):
    gl, rb = _fixture_sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    broken = replace(gl, location=(tmp_path / "no-such.zip").as_uri())
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / rb.filename).write_bytes(recbole_wheel_bytes)
    ml = load_movielens("ml-100k", [broken, rb], home=home, progress=False)
    assert ml.source == "recbole-wheel" and len(ml.ratings) == 7


def test_all_sources_failing_gives_a_clear_error(tmp_path, grouplens_zip_bytes):
    gl, rb = _fixture_sources(tmp_path, grouplens_zip_bytes, b"")
    bad_gl = replace(gl, sha256="f" * 64)  # the archive is served but does not match
    bad_rb = replace(rb, kind="pip", location="recbole==0.0.0.does.not.exist")
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as err:
        load_movielens("ml-100k", [bad_gl, bad_rb], home=home, progress=False)
    msg = str(err.value)
    assert "grouplens" in msg and "recbole-wheel" in msg and "by hand" in msg
    assert "checksum mismatch" in msg
    assert not (home / "ml-100k").exists()
    assert _leftovers(home / "downloads") == []


def test_corrupt_file_supplied_by_hand_is_replaced(tmp_path, grouplens_zip_bytes):
    gl, _ = _fixture_sources(tmp_path, grouplens_zip_bytes, b"")
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / gl.filename).write_bytes(grouplens_zip_bytes[:100])  # truncated
    with pytest.warns(UserWarning, match="failed its SHA-256 check"):
        ml = load_movielens("ml-100k", [gl], home=home, progress=False)
    assert len(ml.ratings) == 7
    assert _sha((home / "downloads" / gl.filename).read_bytes()) == gl.sha256
    # the rejected copy is kept aside, not deleted without a word
    assert (home / "downloads" / (gl.filename + ".rejected")).read_bytes() == grouplens_zip_bytes[
        :100
    ]


def test_import_has_no_side_effects(tmp_path):
    code = (
        "import sys, recsys_lib, recsys_lib.movielens, recsys_lib.metrics, recsys_lib.splits, "
        "recsys_lib.models, recsys_lib.experiment, recsys_lib.cli, recsys_lib.registry; "
        "print('tensorflow' in sys.modules)"
    )
    env = {
        "RECSYS_DATA": str(tmp_path / "cache"),
        "RECSYS_RESULTS": str(tmp_path / "res"),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "res").exists()


def test_real_ml100k_through_the_loader(ml100k):
    assert len(ml100k.ratings) == 100_000
    assert ml100k.ratings.user_id.nunique() == 943
    assert ml100k.ratings.item_id.nunique() == 1682 == len(ml100k.items)
    assert len(ml100k.users) == 943
    assert list(ml100k.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ml100k.items.columns[:3].tolist() == ["item_id", "title", "year"]
    assert ml100k.items.iloc[:, 3:].sum().sum() > 1682  # 19 genre flags, some items have several
    assert sorted(ml100k.ratings.rating.unique()) == [1, 2, 3, 4, 5]
    first = ml100k.ratings.iloc[0].tolist()
    assert first == [196, 242, 3, 881250949]  # the first line of u.data: file order is kept


def test_the_loaded_ml100k_has_the_sizes_grouplens_publishes(ml100k):
    from recsys_lib.movielens import PUBLISHED

    want = PUBLISHED["ml-100k"]
    assert len(ml100k.ratings) == want["ratings"]
    assert ml100k.ratings.user_id.nunique() == want["users"]
    assert ml100k.ratings.item_id.nunique() == want["items"]
    # ML-1M's published sizes are the ones chapter 12 quotes: ten times the ratings
    assert round(PUBLISHED["ml-1m"]["ratings"] / want["ratings"]) == 10
