"""Issue 15, "Nothing silent": the data layer refuses or repairs damaged input, loudly.

Faults covered: (1) damaged cache files, (2) deduplicate() with a repeated index,
(3) non-integer and raw ids used as codes, (5) preprocessing edge cases, (6) download
housekeeping. Every test works in ``tmp_path`` (``$RECSYS_DATA`` points there too), never
in the real cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_lib import download as dl
from recsys_lib import movielens as mlmod
from recsys_lib.codes import as_codes
from recsys_lib.download import MANIFEST, DownloadError, safe_extract
from recsys_lib.movielens import ML100K_SOURCES, load_movielens
from recsys_lib.preprocess import IdMap, deduplicate, encode_ids, to_implicit
from recsys_lib.splits import leave_last_out, random_leave_one_out

ROOT = Path(__file__).resolve().parents[1]
N_RATINGS = 7  # rows of the fixture archives (tests/conftest.py)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Whatever a test forgets to pass, the cache is a temporary folder."""
    monkeypatch.setenv("RECSYS_DATA", str(tmp_path / "env-cache"))


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _sources(tmp_path, gl_bytes, rb_bytes):
    """Sources shaped like the real ones, served from local files (no network)."""
    remote = tmp_path / "remote"
    remote.mkdir(exist_ok=True)
    (remote / "ml-100k.zip").write_bytes(gl_bytes)
    (remote / "recbole.whl").write_bytes(rb_bytes)
    gl, rb = ML100K_SOURCES
    gl = replace(gl, location=(remote / "ml-100k.zip").as_uri(), sha256=_sha(gl_bytes))
    rb = replace(rb, kind="url", location=(remote / "recbole.whl").as_uri(), sha256=_sha(rb_bytes))
    return gl, rb


def _offline(src, tmp_path):
    return replace(src, location=(tmp_path / "nowhere" / src.filename).as_uri())


def _leftovers(folder: Path) -> list[str]:
    return (
        sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") and p.name != ".lock")
        if folder.exists()
        else []
    )


@pytest.fixture(params=["grouplens", "recbole"])
def cached(request, tmp_path, grouplens_zip_bytes, recbole_wheel_bytes):
    """A freshly fetched cache of one fixture source: (source, home, folder, frames)."""
    gl, rb = _sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    src = gl if request.param == "grouplens" else rb
    home = tmp_path / "home"
    ml = load_movielens("ml-100k", [src], home=home, progress=False)
    return src, home, home / "ml-100k", ml


DAMAGE = {
    "truncated-ratings": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty-ratings": lambda p: p.write_bytes(b""),
    "flipped-bytes": lambda p: p.write_bytes(
        bytes(b ^ 0x55 if k == 40 else b for k, b in enumerate(p.read_bytes()))
    ),
    "deleted": lambda p: p.unlink(),
}


def _ratings_file(src, folder):
    return folder / list(src.members.values())[0]


def _items_file(src, folder):
    return folder / list(src.members.values())[1]


# ----------------------------------------------------------------------------- fault 1
def test_extraction_records_a_manifest(cached):
    src, home, folder, _ = cached
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["archive_sha256"] == src.sha256 and manifest["source"] == src.name
    for name in src.members.values():
        data = (folder / name).read_bytes()
        assert manifest["files"][name] == {"sha256": _sha(data), "size": len(data)}
    assert (folder / "SOURCE").read_text().strip() == src.name
    assert _leftovers(home) == []


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_cache_file_is_re_extracted_from_the_archive(cached, damage, tmp_path):
    src, home, folder, first = cached
    target = _ratings_file(src, folder)
    DAMAGE[damage](target)
    with pytest.warns(UserWarning, match="re-extracted") as rec:
        again = load_movielens("ml-100k", [_offline(src, tmp_path)], home=home, progress=False)
    assert str(target) in str(rec[0].message)
    for part in ("ratings", "items", "users"):
        pd.testing.assert_frame_equal(getattr(first, part), getattr(again, part))
    assert len(again.ratings) == N_RATINGS


@pytest.mark.parametrize("damage", sorted(DAMAGE) + ["truncated-items"])
def test_damaged_cache_without_archive_fails_naming_file_and_fix(cached, damage, tmp_path):
    src, home, folder, _ = cached
    (home / "downloads" / src.filename).unlink()
    target = _items_file(src, folder) if damage == "truncated-items" else _ratings_file(src, folder)
    if damage == "truncated-items":
        target.write_bytes(target.read_bytes()[:-30])
    else:
        DAMAGE[damage](target)
    with pytest.raises(DownloadError) as err:
        load_movielens("ml-100k", [_offline(src, tmp_path)], home=home, progress=False)
    msg = str(err.value)
    assert str(target) in msg and "damaged" in msg
    assert f"Delete the folder {folder} and fetch again" in msg


def test_damaged_manifest_is_not_trusted(cached, tmp_path):
    src, home, folder, _ = cached
    (folder / MANIFEST).write_text("{not json")
    _ratings_file(src, folder).write_bytes(b"")
    with pytest.warns(UserWarning, match="MANIFEST"):
        ml = load_movielens("ml-100k", [_offline(src, tmp_path)], home=home, progress=False)
    assert len(ml.ratings) == N_RATINGS
    assert json.loads((folder / MANIFEST).read_text())["files"]


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("archive_there", [True, False])
@pytest.mark.parametrize("damaged", [False, True])
def test_old_cache_without_manifest_is_verified(
    cached, tmp_path, monkeypatch, known, archive_there, damaged
):
    """A cache written before manifests existed is checked against the known checksums of
    its files, or re-extracted from its archive, or fetched again: never trusted as it is."""
    src, home, folder, first = cached
    if known:
        monkeypatch.setitem(
            mlmod.KNOWN_FILES,
            src.sha256,
            {n: _sha((folder / n).read_bytes()) for n in src.members.values()},
        )
    (folder / MANIFEST).unlink()
    if not archive_there:
        (home / "downloads" / src.filename).unlink()
    if damaged:
        DAMAGE["flipped-bytes"](_ratings_file(src, folder))
    offline = _offline(src, tmp_path)
    if not archive_there and (damaged or not known):
        expect = "does not match the known SHA-256" if known else "could not obtain"
        with pytest.raises(DownloadError, match=expect):
            load_movielens("ml-100k", [offline], home=home, progress=False)
        return
    if damaged:
        expect = "does not match the known SHA-256" if known else "differed from the archive"
        with pytest.warns(UserWarning, match=expect):
            ml = load_movielens("ml-100k", [offline], home=home, progress=False)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an intact old cache is adopted without a word
            ml = load_movielens("ml-100k", [offline], home=home, progress=False)
    pd.testing.assert_frame_equal(ml.ratings, first.ratings)
    assert (folder / MANIFEST).is_file()  # verified the fast way next time


def test_old_cache_with_nothing_to_check_is_fetched_again(cached, tmp_path):
    src, home, folder, first = cached
    (folder / MANIFEST).unlink()
    (home / "downloads" / src.filename).unlink()
    _ratings_file(src, folder).write_bytes(b"")  # would load 0 ratings if trusted
    ml = load_movielens("ml-100k", [src], home=home, progress=False)  # the source still serves
    pd.testing.assert_frame_equal(ml.ratings, first.ratings)
    with pytest.raises(DownloadError, match="could not obtain"):  # and if it does not: an error
        (folder / MANIFEST).unlink()
        (home / "downloads" / src.filename).unlink()
        load_movielens("ml-100k", [_offline(src, tmp_path)], home=home, progress=False)


def test_the_real_archive_has_known_file_checksums():
    """The pinned checksums of the unpacked RecBole files belong to the pinned wheel."""
    rb = ML100K_SOURCES[1]
    assert set(mlmod.KNOWN_FILES[rb.sha256]) == set(rb.members.values())


def _wheel_with(recbole_wheel_bytes, name, edit) -> bytes:
    """The fixture wheel with member ``name`` changed by ``edit(bytes) -> bytes``."""
    src = zipfile.ZipFile(io.BytesIO(recbole_wheel_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            zf.writestr(info.filename, edit(data) if info.filename.endswith(name) else data)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, edit, expect",
    [
        ("ml-100k.inter", lambda b: b.replace(b"\t874965758", b"874965758", 1), "ml-100k.inter"),
        ("ml-100k.inter", lambda b: b.splitlines(keepends=True)[0], "holds no ratings"),
        ("ml-100k.item", lambda b: b"".join(b.splitlines(keepends=True)[:-2]), "does not list"),
        ("ml-100k.user", lambda b: b.replace(b"\t53\t", b"\t", 1), "ml-100k.user"),
    ],
)
def test_unparseable_files_are_named(tmp_path, recbole_wheel_bytes, name, edit, expect):
    """Even when the archive itself is bad, the error names the file instead of saying
    'not enough values to unpack' or loading an empty or partial frame."""
    bad = _wheel_with(recbole_wheel_bytes, name, edit)
    _, rb = _sources(tmp_path, b"", bad)
    with pytest.raises(DownloadError) as err:
        load_movielens("ml-100k", [rb], home=tmp_path / "home", progress=False)
    msg = str(err.value)
    assert expect in msg and str(tmp_path / "home" / "ml-100k") in msg


# ----------------------------------------------------------------------------- fault 2
def test_deduplicate_after_concat_drops_repeats():
    a = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [2, 3, 4], "timestamp": [1, 2, 3]})
    b = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3], "timestamp": [4, 5]})
    out = deduplicate(pd.concat([a, b]))  # index 0, 1, 2, 0, 1
    assert out.to_dict("list") == {
        "user_id": [1, 1, 1],
        "item_id": [4, 2, 3],
        "timestamp": [3, 4, 5],
    }
    first = deduplicate(pd.concat([a, b]), keep="first")
    assert first.timestamp.tolist() == [1, 2, 3]


def test_no_leak_after_concat_and_leave_last_out():
    a = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [2, 3, 4], "timestamp": [1, 2, 3]})
    b = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 3], "timestamp": [4, 5]})
    enc, _ = encode_ids(deduplicate(pd.concat([a, b])))
    s = leave_last_out(enc)
    held = set(s.valid.item_id) | set(s.test.item_id)
    assert held and not held & set(s.train.item_id)


frames = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3) | st.sampled_from(["a", "b"]), min_size=n, max_size=n),
        st.sampled_from(["first", "last"]),
    )
)


@settings(max_examples=150, deadline=None)
@given(frames)
def test_deduplicate_works_by_position_whatever_the_index(frame):
    users, items, times, index, keep = frame
    df = pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": times, "rating": np.arange(len(users))},
        index=index,
    )
    out = deduplicate(df, keep=keep)
    # reference: plain Python over positions, stable time order
    order = sorted(range(len(df)), key=lambda p: times[p])
    chosen = {}
    for p in order:
        if keep == "last" or (users[p], items[p]) not in chosen:
            chosen[(users[p], items[p])] = p
    want = sorted(chosen.values())
    assert out.rating.tolist() == want
    assert list(out.index) == list(range(len(want)))
    # a unique index (here: descending labels) gives exactly what the old code gave
    uniq = df.set_axis(np.arange(len(df))[::-1] * 10)
    kept = uniq.sort_values("timestamp", kind="stable").drop_duplicates(
        ["user_id", "item_id"], keep=keep
    )
    pd.testing.assert_frame_equal(
        deduplicate(uniq, keep=keep), uniq.loc[uniq.index.isin(kept.index)].reset_index(drop=True)
    )


# ----------------------------------------------------------------------------- fault 3
@pytest.mark.parametrize(
    "values, n, what, expect",
    [
        (
            [0.5, 1.7],
            None,
            "user",
            r"user code 0\.5 is not an integer: user codes must be integers >= 0",
        ),
        (
            [0, 1.7],
            5,
            "item",
            r"item code 1\.7 is not an integer: item codes must be integers in 0\.\.4",
        ),
        ([True, False], None, "user", "user codes must be integers, got booleans"),
        ([1.0, np.nan], 3, "item", r"item code nan is not a finite number.*0\.\.2"),
        ([np.inf], None, "user", "user code inf is not a finite number"),
        ([-1, 0], 3, "user", r"user code -1 is negative: user codes must be integers in 0\.\.2"),
        ([0, 3], 3, "item", r"item code 3 is out of range: item codes must be integers in 0\.\.2"),
        ([0], 0, "item", "there are no items"),
        (["a"], None, "user", "user codes must be integers, got dtype"),
        (np.zeros((2, 2), dtype=int), None, "user", r"1-D array, got shape \(2, 2\)"),
        (np.array(7), None, "user", r"1-D array, got shape \(\)"),
        (np.array([2**63], dtype=np.uint64), None, "user", "out of range"),
        ([1e300], 10, "item", "out of range"),
        ([0], 2.5, "user", "number of users must be an integer"),
        (pd.array([1, None], dtype="Int64"), None, "item", "item code"),
        (np.array([1, "x"], dtype=object), None, "item", "item code 'x' is a str"),
        (np.array([1, True], dtype=object), None, "user", "user code True is a boolean"),
    ],
)
def test_as_codes_rejects(values, n, what, expect):
    with pytest.raises(ValueError, match=expect):
        as_codes(values, n, what)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 2**40), max_size=30),
    st.integers(0, 3),
    st.sampled_from(["int64", "int32", "uint64", "float64", "object"]),
)
def test_as_codes_keeps_every_valid_code(codes, extra, dtype):
    n = (max(codes) + 1 if codes else 0) + extra
    if dtype == "int32":
        codes = [c % 2**31 for c in codes]
    arr = np.array(codes, dtype=dtype)
    out = as_codes(arr, n, "item")
    assert out.dtype == np.int64 and out.tolist() == [int(c) for c in codes]
    assert as_codes(arr, None).tolist() == out.tolist()
    if codes:
        with pytest.raises(ValueError, match=r"item code .* is out of range"):
            as_codes(arr, max(int(c) for c in codes), "item")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20),
    st.sampled_from(["user", "item", "row"]),
)
def test_as_codes_never_truncates(values, what):
    arr = np.array(values, dtype=float)
    valid = (
        np.isfinite(arr).all()
        and (arr == np.floor(arr)).all()
        and (arr >= 0).all()
        and (arr < 2.0**63).all()
    )
    if valid:
        assert (as_codes(arr, what=what) == arr).all()
    else:
        with pytest.raises(ValueError, match=what):
            as_codes(arr, what=what)


def test_split_refuses_fractional_codes(tiny):
    bad = tiny.astype({"user_id": float})
    bad.loc[bad.user_id == 0, "user_id"] = 0.5
    bad.loc[bad.user_id == 1, "user_id"] = 1.7
    for split in (leave_last_out, lambda d: random_leave_one_out(d, seed=0)):
        with pytest.raises(ValueError, match=r"user code 0\.5 is not an integer.*encode_ids"):
            split(bad)
    with pytest.raises(ValueError, match=r"item code 0\.5 is not an integer"):
        leave_last_out(tiny.astype({"item_id": float}).assign(item_id=lambda d: d.item_id + 0.5))


def test_split_refuses_raw_ids(tiny):
    raw = tiny.assign(user_id=tiny.user_id + 1, item_id=tiny.item_id + 1)  # 1-based, like ML
    with pytest.raises(ValueError, match="user_id has no code 0 .*raw ids.*encode_ids"):
        leave_last_out(raw)
    with pytest.raises(ValueError, match="item_id has no code 0"):
        leave_last_out(raw.assign(user_id=tiny.user_id))
    # with the counts given explicitly, an unused code 0 is the caller's decision
    s = leave_last_out(raw, num_users=5, num_items=7)
    assert s.num_users == 5 and len(s.test) == 3
    with pytest.raises(ValueError, match="num_users must be a positive integer"):
        leave_last_out(tiny, num_users=4.0)
    with pytest.raises(ValueError, match="bool|positive integer"):
        leave_last_out(tiny, num_items=True)


def test_valid_codes_split_as_before(tiny):
    s = leave_last_out(tiny.astype({"user_id": float}))  # whole floats are still codes
    assert dict(zip(s.test.user_id, s.test.item_id)) == {0: 3, 1: 5, 2: 3}


# ----------------------------------------------------------------------------- fault 5
def test_idmap_on_an_empty_table():
    m = IdMap(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    with pytest.raises(
        KeyError, match=r"unknown user id\(s\): \[3\] \(this IdMap holds no users\)"
    ):
        m.encode_users([3])
    assert m.encode_items([]).tolist() == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-1000, 1000), unique=True, min_size=1, max_size=40), st.data())
def test_idmap_in_any_order_encodes_by_position(ids, data):
    table = np.array(ids)
    m = IdMap(table, table)
    assert m.encode_users(table).tolist() == list(range(len(ids)))
    pick = data.draw(st.lists(st.sampled_from(ids), max_size=10))
    assert table[m.encode_items(pick)].tolist() == pick
    missing = data.draw(st.integers(-2000, 2000).filter(lambda v: v not in ids))
    with pytest.raises(KeyError, match=f"unknown item id.*{missing}"):
        m.encode_items([missing])


def test_idmap_refuses_ambiguous_tables():
    with pytest.raises(ValueError, match=r"repeat raw id\(s\) \[5\]"):
        IdMap(np.array([5, 1, 5]), np.array([1]))
    with pytest.raises(ValueError, match="missing id"):
        IdMap(np.array([1.0]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="1-D"):
        IdMap(np.zeros((2, 2)), np.array([1]))


def test_item_universe_with_nan_is_refused():
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [7, 8], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match=r"item_universe holds 1 missing value"):
        encode_ids(df, item_universe=[7, 8, np.nan])
    with pytest.raises(ValueError, match="item_universe holds 1 missing"):
        encode_ids(df, item_universe=pd.Series([7, 8, None], dtype="Int64"))
    enc, m = encode_ids(df, item_universe=[8, 7, 9, 7])  # unsorted, repeated: fine
    assert m.items.tolist() == [7, 8, 9] and enc.item_id.tolist() == [0, 1]


def test_to_implicit_threshold_needs_ratings(tiny):
    with pytest.raises(ValueError, match="needs a 'rating' column"):
        to_implicit(tiny.drop(columns="rating"), min_rating=3)
    assert len(to_implicit(tiny.drop(columns="rating"))) == len(tiny)  # no threshold: fine
    holes = tiny.astype({"rating": float})
    holes.loc[[0, 5], "rating"] = np.nan
    with pytest.raises(ValueError, match=r"'rating' has 2 missing value\(s\) of 13"):
        to_implicit(holes, min_rating=3)
    with pytest.raises(ValueError, match="min_rating must be a finite number"):
        to_implicit(tiny, min_rating=float("nan"))
    with pytest.raises(ValueError, match="numeric"):
        to_implicit(tiny.assign(rating=tiny.rating.astype(str)), min_rating=3)
    assert to_implicit(tiny, min_rating=4).rating.tolist() == [5, 4, 5, 5, 4, 4, 4, 4]


# ----------------------------------------------------------------------------- fault 6
def test_rejected_hand_supplied_archive_is_kept_and_reported(
    tmp_path, grouplens_zip_bytes, recbole_wheel_bytes
):
    gl, rb = _sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    supplied = home / "downloads" / gl.filename
    supplied.write_bytes(grouplens_zip_bytes[:200])  # an incomplete copy
    with pytest.warns(UserWarning, match="failed its SHA-256 check"):
        with pytest.raises(DownloadError) as err:
            load_movielens("ml-100k", [_offline(gl, tmp_path)], home=home, progress=False)
    msg = str(err.value)
    rejected = supplied.with_name("ml-100k.zip.rejected")
    assert rejected.read_bytes() == grouplens_zip_bytes[:200] and not supplied.exists()
    assert f"{supplied} failed its SHA-256 check" in msg and str(rejected) in msg
    # when a source serves, the fetch succeeds and still says so
    with pytest.warns(UserWarning, match="failed its SHA-256 check"):
        supplied.write_bytes(b"junk")
        ml = load_movielens("ml-100k", [gl], home=home, progress=False)
    assert len(ml.ratings) == N_RATINGS and rejected.read_bytes() == b"junk"


def test_error_shows_the_whole_cache_path(tmp_path, grouplens_zip_bytes):
    gl, _ = _sources(tmp_path, grouplens_zip_bytes, b"")
    home = tmp_path / "a" / "deep" / "d6"
    with pytest.raises(DownloadError) as err:
        load_movielens("ml-100k", [_offline(gl, tmp_path)], home=home, progress=False)
    assert f"into the folder {home / 'downloads'} " in str(err.value)


def _make_unwritable(monkeypatch):
    """As root, chmod does not stop writes: make every temporary folder fail instead."""

    def refuse(*a, dir=None, **k):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(dl.tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(dl.tempfile, "mkstemp", refuse)


def test_read_only_cache_with_a_valid_wheel_says_it_cannot_write(
    tmp_path, monkeypatch, grouplens_zip_bytes, recbole_wheel_bytes
):
    gl, rb = _sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / rb.filename).write_bytes(recbole_wheel_bytes)
    _make_unwritable(monkeypatch)
    with pytest.raises(DownloadError) as err:
        load_movielens("ml-100k", [_offline(gl, tmp_path), rb], home=home, progress=False)
    msg = str(err.value)
    assert f"the verified archive {home / 'downloads' / rb.filename} is there" in msg
    assert f"the cache folder {home} cannot be written" in msg and "PermissionError" in msg
    assert "copy one of" not in msg
    assert not (home / "ml-100k").exists()


def test_read_only_cache_damaged_file_says_it_cannot_write(cached, tmp_path, monkeypatch):
    src, home, folder, _ = cached
    _ratings_file(src, folder).write_bytes(b"")
    _make_unwritable(monkeypatch)
    with pytest.raises(DownloadError, match=re.escape(f"{folder.parent} must be writable")):
        load_movielens("ml-100k", [_offline(src, tmp_path)], home=home, progress=False)


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from recsys_lib import download as dl
    home = Path(os.environ["RECSYS_DATA"])
    def die(*a, **k):
        if sys.argv[1] == "pip":  # pip has written a whole wheel into its folder
            d = Path(a[0][a[0].index("-d") + 1])
            (d / "recbole-1.2.1-py3-none-any.whl").write_bytes(b"w" * 50_000)
        os.kill(os.getpid(), signal.SIGKILL)
    if sys.argv[1] == "pip":
        dl.subprocess.run = die
        dl.pip_download("recbole==1.2.1", home / "downloads" / "recbole-1.2.1-py3-none-any.whl",
                        "0" * 64)
    elif sys.argv[1] == "url":
        class Dying:
            headers = {}
            def __enter__(self): return self
            def __exit__(self, *a): return False
            def read(self, n):
                die()
        dl.urllib.request.urlopen = lambda *a, **k: Dying()
        dl.download_url("https://example.invalid/ml-100k.zip", home / "downloads" / "ml-100k.zip",
                        "0" * 64, progress=False)
    else:
        import shutil
        dl.shutil.copyfileobj = die
        dl.safe_extract(Path(sys.argv[2]), home / "ml-100k")
""")


def _killed(kind: str, home: Path, *args) -> None:
    env = dict(os.environ, RECSYS_DATA=str(home), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED, kind, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_leftovers_of_killed_processes_are_cleaned_at_the_next_fetch(
    tmp_path, grouplens_zip_bytes, recbole_wheel_bytes
):
    gl, rb = _sources(tmp_path, grouplens_zip_bytes, recbole_wheel_bytes)
    home = tmp_path / "home"
    _killed("pip", home)
    _killed("url", home)
    _killed("extract", home, str(tmp_path / "remote" / "ml-100k.zip"))
    left = _leftovers(home)
    assert any(n.startswith(".pip-") for n in left)
    assert any(n.endswith(".part") for n in left)
    assert any(n.startswith(".ml-100k.") for n in left)
    assert any(p.suffix == ".whl" for p in home.rglob(".pip-*/*.whl"))  # a whole wheel, stranded
    ml = load_movielens("ml-100k", [gl, rb], home=home, progress=False)
    assert len(ml.ratings) == N_RATINGS
    assert _leftovers(home) == []


def test_interrupted_re_extraction_keeps_the_old_folder(cached, monkeypatch):
    src, home, folder, _ = cached
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []

    def interrupt(*a, **k):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(dl.shutil, "copyfileobj", interrupt)
    with pytest.raises(KeyboardInterrupt):
        safe_extract(home / "downloads" / src.filename, folder, src.members, manifest={})
    assert calls and {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _leftovers(home) == []


def test_pip_timeout_is_a_download_error(tmp_path, monkeypatch):
    def slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    monkeypatch.setattr(dl.subprocess, "run", slow)
    with pytest.raises(DownloadError, match="took longer than 5 s"):
        dl.pip_download("recbole==1.2.1", tmp_path / "d" / "x.whl", "0" * 64, timeout=5)
    assert _leftovers(tmp_path / "d") == []


_TWICE = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from recsys_lib.movielens import ML100K_SOURCES, load_movielens
    gl = replace(ML100K_SOURCES[0], location=sys.argv[1], sha256=sys.argv[2])
    ml = load_movielens("ml-100k", [gl], progress=False)
    print(len(ml.ratings))
""")


def test_two_processes_fetching_at_once_do_not_collide(tmp_path, grouplens_zip_bytes):
    gl, _ = _sources(tmp_path, grouplens_zip_bytes, b"")
    home = tmp_path / "shared"
    env = dict(os.environ, RECSYS_DATA=str(home), PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TWICE, gl.location, gl.sha256],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert [o.strip() for o, _ in outs] == [str(N_RATINGS)] * 3
    assert _leftovers(home) == []
