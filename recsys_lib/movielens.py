"""MovieLens loaders: ML-100K (two verified sources) and, optionally, ML-1M.

``load_ml100k()`` returns the same frames whichever source served:

* ``ratings``: ``user_id, item_id, rating, timestamp`` in the original file order;
* ``items``: ``item_id, title, year`` and the 19 genre flags (``title`` without the
  ``(YYYY)`` suffix, ``year`` taken from the title, ``<NA>`` when unknown);
* ``users``: ``user_id, age, gender, occupation, zip_code``.

The cache is verified on every load, not only the downloaded archive: extraction records
the SHA-256 of each unpacked file in ``MANIFEST.json``, and a file that no longer matches
is re-extracted from the verified archive (with a warning) or, when the archive is gone,
reported by name with the fix. A cache written by an older version (no manifest) is
checked against the known checksums of the files, or re-extracted; it is never trusted
as it is.
"""
from __future__ import annotations

import contextlib
import os
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import GENRES
from .download import (DownloadError, cache_lock, check_manifest, clean_stale, data_home,
                       download_url, pip_download, read_manifest, safe_extract, sha256_of,
                       write_manifest)

__all__ = ["GENRES", "MovieLens", "Source", "ML100K_SOURCES", "ML1M_SOURCES",
           "load_ml100k", "load_ml1m", "load_movielens", "PUBLISHED"]

#: the sizes GroupLens publishes for each dataset (its READMEs; Harper & Konstan 2015): the
#: book quotes these, and a test checks the loaded ML-100K against them
PUBLISHED = {
    "ml-100k": {"ratings": 100_000, "users": 943, "items": 1_682},
    "ml-1m": {"ratings": 1_000_209, "users": 6_040, "items": 3_706},
}


_RECBOLE_DIR = "recbole/dataset_example/ml-100k/"


@dataclass(frozen=True)
class Source:
    """One place a dataset can come from.

    ``kind`` is ``"url"`` (``location`` is a URL) or ``"pip"`` (``location`` is a
    requirement such as ``recbole==1.2.1``). ``members`` maps archive members to the
    file names kept in the cache; ``fmt`` names the parser.
    """

    name: str
    kind: str
    location: str
    filename: str
    sha256: str
    members: dict = field(hash=False)
    fmt: str


ML100K_SOURCES = (
    Source("grouplens", "url", "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
           "ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
           {"ml-100k/u.data": "u.data", "ml-100k/u.item": "u.item", "ml-100k/u.user": "u.user"},
           "grouplens-100k"),
    Source("recbole-wheel", "pip", "recbole==1.2.1", "recbole-1.2.1-py3-none-any.whl",
           "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
           {_RECBOLE_DIR + "ml-100k.inter": "ml-100k.inter",
            _RECBOLE_DIR + "ml-100k.item": "ml-100k.item",
            _RECBOLE_DIR + "ml-100k.user": "ml-100k.user"},
           "recbole-100k"),
)

#: SHA-256 of the unpacked files of known archives (keyed by the archive's SHA-256), to
#: verify a cache written before manifests existed when its archive is no longer there
KNOWN_FILES = {
    "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407": {
        "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
        "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
        "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    },
}

ML1M_SOURCES = (
    Source("grouplens", "url", "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
           "ml-1m.zip", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
           {"ml-1m/ratings.dat": "ratings.dat", "ml-1m/movies.dat": "movies.dat",
            "ml-1m/users.dat": "users.dat"},
           "grouplens-1m"),
)


@dataclass
class MovieLens:
    """A loaded MovieLens dataset: three frames plus where they came from."""

    name: str
    source: str
    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame

    def __repr__(self) -> str:
        return (f"MovieLens({self.name!r}, source={self.source!r}, "
                f"{len(self.ratings):,} ratings, {self.ratings.user_id.nunique():,} users, "
                f"{len(self.items):,} items)")


# ----------------------------------------------------------------------------- parsing
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


def _split_title(raw: str) -> tuple[str, int | None]:
    raw = " ".join(raw.split())
    m = _TITLE_YEAR.match(raw)
    if m:
        return m.group("title"), int(m.group("year"))
    return raw, None


def _items_frame(ids, titles, years, flags) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": np.asarray(ids, dtype=np.int64),
                          "title": pd.array(titles, dtype="str"),
                          "year": pd.array(years, dtype="Int64")})
    genre = pd.DataFrame(np.asarray(flags, dtype=np.int8).reshape(len(ids), len(GENRES)),
                         columns=GENRES)
    items = pd.concat([items, genre], axis=1)
    return items.sort_values("item_id", kind="stable").reset_index(drop=True)


def _ratings_frame(arr: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({c: arr[:, k].astype(np.int64)
                         for k, c in enumerate(["user_id", "item_id", "rating", "timestamp"])})


def _users_frame(rows) -> pd.DataFrame:
    rows = list(rows)
    users = pd.DataFrame({
        "user_id": np.array([int(r[0]) for r in rows], dtype=np.int64),
        "age": np.array([int(r[1]) for r in rows], dtype=np.int64),
        "gender": pd.array([r[2] for r in rows], dtype="str"),
        "occupation": pd.array([r[3] for r in rows], dtype="str"),
        "zip_code": pd.array([r[4] for r in rows], dtype="str"),
    })
    return users.sort_values("user_id", kind="stable").reset_index(drop=True)


@contextlib.contextmanager
def _parsing(path: Path):
    """Re-raise any parse error as ``ValueError`` naming ``path`` and the fix."""
    try:
        yield
    except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
        raise ValueError(f"cannot parse {path}: {type(exc).__name__}: {exc}. The file is "
                         f"damaged; delete the folder {path.parent} and fetch again "
                         "(python -m recsys_lib data fetch)") from exc


def _read_lines(path: Path, encoding: str, skip_header: bool = False) -> list[str]:
    lines = path.read_text(encoding=encoding).splitlines()
    lines = lines[1:] if skip_header else lines
    return [ln for ln in lines if ln.strip()]


def _parse_grouplens_100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with _parsing(folder / "u.data"):
        arr = np.loadtxt(folder / "u.data", dtype=np.int64, delimiter="\t", ndmin=2)
        if arr.shape[1] != 4:
            raise ValueError(f"expected 4 tab-separated columns, got {arr.shape[1]}")
        ratings = _ratings_frame(arr)
    ids, titles, years, flags = [], [], [], []
    with _parsing(folder / "u.item"):
        for ln in _read_lines(folder / "u.item", "latin-1"):
            f = ln.split("|")
            if len(f) != 5 + len(GENRES):
                raise ValueError(f"malformed u.item line: {ln[:80]!r}")
            title, year = _split_title(f[1])
            ids.append(int(f[0])); titles.append(title); years.append(year)
            flags.append([int(x) for x in f[5:]])
        items = _items_frame(ids, titles, years, flags)
    with _parsing(folder / "u.user"):
        users = _users_frame(_fields(ln, "|", 5) for ln in _read_lines(folder / "u.user", "latin-1"))
    return ratings, items, users


def _fields(ln: str, sep: str, n: int) -> list[str]:
    f = ln.split(sep)
    if len(f) != n:
        raise ValueError(f"expected {n} fields, got {len(f)} in line {ln[:80]!r}")
    return f


def _parse_recbole_100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with _parsing(folder / "ml-100k.inter"):
        rows = [_fields(ln, "\t", 4)
                for ln in _read_lines(folder / "ml-100k.inter", "utf-8", True)]
        arr = np.array([[int(u), int(i), int(float(r)), int(float(t))] for u, i, r, t in rows],
                       dtype=np.int64).reshape(-1, 4)
        ratings = _ratings_frame(arr)
    ids, titles, years, flags = [], [], [], []
    with _parsing(folder / "ml-100k.item"):
        for ln in _read_lines(folder / "ml-100k.item", "utf-8", True):
            f = ln.split("\t")
            if len(f) != 4:
                raise ValueError(f"malformed ml-100k.item line: {ln[:80]!r}")
            # RecBole spells the one untitled movie (item 267) 'unkonwn'; GroupLens says 'unknown'.
            title = "unknown" if f[1] == "unkonwn" else " ".join(f[1].split())
            genres = set(f[3].split())
            unknown = genres - set(GENRES)
            if unknown:
                raise ValueError(f"unknown genres {sorted(unknown)} in line {ln[:80]!r}")
            ids.append(int(f[0])); titles.append(title)
            years.append(int(f[2]) if f[2].isdigit() else None)
            flags.append([int(g in genres) for g in GENRES])
        items = _items_frame(ids, titles, years, flags)
    with _parsing(folder / "ml-100k.user"):
        users = _users_frame(_fields(ln, "\t", 5)
                             for ln in _read_lines(folder / "ml-100k.user", "utf-8", True))
    return ratings, items, users


def _parse_grouplens_1m(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with _parsing(folder / "ratings.dat"):
        arr = np.array([_fields(ln, "::", 4)
                        for ln in _read_lines(folder / "ratings.dat", "latin-1")],
                       dtype=np.int64).reshape(-1, 4)
        ratings = _ratings_frame(arr)
    genres_1m = [g for g in GENRES if g != "unknown"]
    ids, titles, years, flags = [], [], [], []
    with _parsing(folder / "movies.dat"):
        for ln in _read_lines(folder / "movies.dat", "latin-1"):
            mid, raw, gs = _fields(ln, "::", 3)
            title, year = _split_title(raw)
            g = set(gs.split("|"))
            ids.append(int(mid)); titles.append(title); years.append(year)
            flags.append([0] + [int(x in g) for x in genres_1m])
        items = _items_frame(ids, titles, years, flags)
    with _parsing(folder / "users.dat"):
        users = _users_frame([u, a, gdr, occ, z] for u, gdr, a, occ, z in
                             (_fields(ln, "::", 5)
                              for ln in _read_lines(folder / "users.dat", "latin-1")))
    return ratings, items, users


def _check_frames(folder: Path, src: "Source", ratings, items, users) -> None:
    """Cross-checks of the parsed files, so that damage is named, not met later."""
    f_ratings, f_items, f_users = (folder / f for f in src.members.values())
    fix = f"delete the folder {folder} and fetch again (python -m recsys_lib data fetch)"
    if len(ratings) == 0:
        raise ValueError(f"{f_ratings} holds no ratings: it is damaged; {fix}")
    for frame, key, path in ((items, "item_id", f_items), (users, "user_id", f_users)):
        if len(frame) == 0:
            raise ValueError(f"{path} holds no rows: it is damaged; {fix}")
        if not frame[key].is_unique:
            raise ValueError(f"{path} lists some {key} twice: it is damaged; {fix}")
        missing = np.setdiff1d(ratings[key].to_numpy(), frame[key].to_numpy())
        if len(missing):
            raise ValueError(f"{f_ratings} has ratings of {len(missing):,} {key}(s) that "
                             f"{path} does not list (e.g. {missing[:5].tolist()}): a file is "
                             f"damaged; {fix}")


_PARSERS = {"grouplens-100k": _parse_grouplens_100k, "recbole-100k": _parse_recbole_100k,
            "grouplens-1m": _parse_grouplens_1m}


# ----------------------------------------------------------------------------- fetching
def _obtain_archive(src: Source, downloads: Path, progress: bool, notes: list[str]) -> Path:
    """Return a verified archive for ``src``: from ``downloads/`` or freshly fetched.

    A file there that fails its check (supplied by hand, or left by an old version) is
    not deleted: it is renamed to ``<name>.rejected`` and reported (a warning, and a
    line in ``notes`` for the final error).
    """
    path = downloads / src.filename
    if path.is_file():
        got = sha256_of(path)
        if got == src.sha256:
            return path
        rejected = path.with_name(path.name + ".rejected")
        try:
            os.replace(path, rejected)
            where = f"it was moved aside to {rejected}"
        except OSError as exc:
            where = f"it could not be moved aside ({type(exc).__name__}: {exc})"
        msg = (f"{path} failed its SHA-256 check (expected {src.sha256}, got {got}): it is "
               f"incomplete or not the expected file; {where}")
        warnings.warn(msg, stacklevel=4)
        notes.append(msg)
    if src.kind == "url":
        return download_url(src.location, path, src.sha256, progress=progress)
    if src.kind == "pip":
        return pip_download(src.location, path, src.sha256)
    raise ValueError(f"unknown source kind {src.kind!r}")


def _extract(src: Source, archive: Path, folder: Path) -> None:
    safe_extract(archive, folder, src.members,
                 manifest={"source": src.name, "archive": src.filename,
                           "archive_sha256": src.sha256},
                 extra_files={"SOURCE": src.name + "\n"})


def _cache_state(folder: Path, by_name: dict) -> tuple[Source | None, str, list[str]]:
    """``(source, state, problems)`` of the cached folder.

    ``state`` is ``"ok"`` (every file matches the manifest), ``"known"`` (no manifest, but
    every file matches the known checksums), ``"damaged"`` (a file does not match),
    ``"unverified"`` (no manifest and nothing to check against) or ``"absent"``.
    """
    try:
        src = by_name.get((folder / "SOURCE").read_text().strip())
    except (OSError, UnicodeDecodeError):
        src = None
    if src is None:
        return None, "absent", []
    names = list(src.members.values())
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        return src, "damaged", [str(exc)]
    if manifest is None or manifest.get("archive_sha256") != src.sha256:
        known = KNOWN_FILES.get(src.sha256)
        if manifest is None and known is not None and set(names) <= set(known):
            problems = []
            for name in names:
                path = folder / name
                if not path.is_file():
                    problems.append(f"{path} is missing")
                elif sha256_of(path) != known[name]:
                    problems.append(f"{path} ({path.stat().st_size:,} bytes) does not match "
                                    "the known SHA-256 of that file")
            return src, ("damaged" if problems else "known"), problems
        return src, "unverified", []
    problems = check_manifest(folder, manifest, names)
    return src, ("damaged" if problems else "ok"), problems


def _load(name: str, src: Source, folder: Path) -> MovieLens:
    ratings, items, users = _PARSERS[src.fmt](folder)
    _check_frames(folder, src, ratings, items, users)
    return MovieLens(name, src.name, ratings, items, users)


def _repair(name: str, src: Source, state: str, problems: list[str], folder: Path,
            downloads: Path) -> MovieLens | None:
    """Deal with a cache that is not verified as it is; ``None``: fetch afresh."""
    if state == "known":
        try:  # adopt the old cache: its files are the known ones
            write_manifest(folder, list(src.members.values()),
                           {"source": src.name, "archive": src.filename,
                            "archive_sha256": src.sha256})
        except OSError:
            pass  # a read-only cache: it is verified each time instead
        return _load(name, src, folder)
    archive = downloads / src.filename
    if archive.is_file() and sha256_of(archive) == src.sha256:
        before = {f: sha256_of(folder / f) for f in src.members.values() if (folder / f).is_file()}
        try:
            _extract(src, archive, folder)
        except OSError as exc:
            what = "; ".join(problems) or f"{folder} has no manifest to verify it"
            raise DownloadError(
                f"{what}. The verified archive {archive} is there to re-extract it from, but "
                f"unpacking into {folder} failed ({type(exc).__name__}: {exc}): the cache folder "
                f"{folder.parent} must be writable; fix its permissions, or set RECSYS_DATA to a "
                "writable folder") from exc
        changed = [f for f in src.members.values()
                   if before.get(f) != read_manifest(folder)["files"][f]["sha256"]]
        if problems or changed:
            what = "; ".join(problems) or ", ".join(str(folder / f) for f in changed) + \
                " differed from the archive"
            warnings.warn(f"{what}: re-extracted the data from the verified archive {archive}",
                          stacklevel=3)
        return _load(name, src, folder)
    if state == "damaged":
        raise DownloadError(
            f"the cached {name} data is damaged: {'; '.join(problems)}. The archive it came "
            f"from ({archive}) is not there to re-extract it. Delete the folder {folder} and "
            "fetch again (python -m recsys_lib data fetch).")
    return None  # written by an older version and nothing to check it against: fetch


def load_movielens(name: str, sources, home: Path | str | None = None,
                   progress: bool = True) -> MovieLens:
    """Load dataset ``name`` from the verified cache, or from the first of ``sources`` that works."""
    home = Path(home) if home is not None else data_home()
    folder = home / name
    downloads = home / "downloads"
    by_name = {s.name: s for s in sources}
    src, state, problems = _cache_state(folder, by_name)
    if state == "ok":
        return _load(name, src, folder)
    with cache_lock(home, f"waiting for another process fetching into {home} ...") as locked:
        if locked:
            # anything temporary found now was left by a killed process
            clean_stale(downloads, [".pip-*"] + [f".{s.filename}.*.part" for s in sources])
            clean_stale(home, [f".{name}.*"])
            clean_stale(folder, [".*.tmp"])
            src, state, problems = _cache_state(folder, by_name)  # another process may have fixed it
        if state == "ok":
            return _load(name, src, folder)
        if state != "absent":
            ml = _repair(name, src, state, problems, folder, downloads)
            if ml is not None:
                return ml
        return _fetch(name, sources, home, folder, downloads, progress)


def _fetch(name, sources, home, folder, downloads, progress) -> MovieLens:
    errors, notes, unpack_failed = [], [], []
    for src in sources:
        label = f"  - {src.name} ({src.location})"
        try:
            archive = _obtain_archive(src, downloads, progress, notes)
        except (OSError, DownloadError, ValueError) as exc:
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        try:
            _extract(src, archive, folder)
        except OSError as exc:
            unpack_failed.append(archive)
            errors.append(f"{label}: the verified archive {archive} is there, but unpacking it "
                          f"into {folder} failed: {type(exc).__name__}: {exc}")
            continue
        except (DownloadError, ValueError, zipfile.BadZipFile) as exc:
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        try:
            return _load(name, src, folder)
        except ValueError as exc:
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
    msg = f"could not obtain {name}. Sources tried, in order:\n" + "\n".join(errors)
    if notes:
        msg += "\n" + "\n".join(f"Note: {n}." for n in notes)
    if unpack_failed:
        msg += (f"\nA verified archive is already in {downloads}, so nothing needs to be "
                f"copied in: the problem is that the cache folder {home} cannot be written. "
                "Make it writable, or set RECSYS_DATA to a writable folder (and copy "
                f"{unpack_failed[0].name} into its 'downloads' folder to avoid fetching it again).")
    else:
        msg += (f"\nTo supply the data by hand, copy one of "
                f"{', '.join(s.filename for s in sources)} into the folder {downloads} "
                "(set RECSYS_DATA to choose another cache folder).")
    raise DownloadError(msg)


def load_ml100k(home: Path | str | None = None, progress: bool = True) -> MovieLens:
    """MovieLens-100K: 100,000 ratings by 943 users of 1,682 movies."""
    return load_movielens("ml-100k", ML100K_SOURCES, home, progress)


def load_ml1m(home: Path | str | None = None, progress: bool = True) -> MovieLens:
    """MovieLens-1M from GroupLens; raises ``DownloadError`` where it is not reachable."""
    return load_movielens("ml-1m", ML1M_SOURCES, home, progress)
