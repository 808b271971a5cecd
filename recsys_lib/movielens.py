"""MovieLens loaders: ML-100K (two verified sources) and, optionally, ML-1M.

``load_ml100k()`` returns the same frames whichever source served:

* ``ratings``: ``user_id, item_id, rating, timestamp`` in the original file order;
* ``items``: ``item_id, title, year`` and the 19 genre flags (``title`` without the
  ``(YYYY)`` suffix, ``year`` taken from the title, ``<NA>`` when unknown);
* ``users``: ``user_id, age, gender, occupation, zip_code``.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .download import DownloadError, data_home, download_url, pip_download, safe_extract, sha256_of

__all__ = ["GENRES", "MovieLens", "Source", "ML100K_SOURCES", "ML1M_SOURCES",
           "load_ml100k", "load_ml1m", "load_movielens"]

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]

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


def _read_lines(path: Path, encoding: str, skip_header: bool = False) -> list[str]:
    lines = path.read_text(encoding=encoding).splitlines()
    lines = lines[1:] if skip_header else lines
    return [ln for ln in lines if ln.strip()]


def _parse_grouplens_100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    arr = np.loadtxt(folder / "u.data", dtype=np.int64, delimiter="\t", ndmin=2)
    ratings = _ratings_frame(arr)
    ids, titles, years, flags = [], [], [], []
    for ln in _read_lines(folder / "u.item", "latin-1"):
        f = ln.split("|")
        if len(f) != 5 + len(GENRES):
            raise ValueError(f"malformed u.item line: {ln[:80]!r}")
        title, year = _split_title(f[1])
        ids.append(int(f[0])); titles.append(title); years.append(year)
        flags.append([int(x) for x in f[5:]])
    items = _items_frame(ids, titles, years, flags)
    users = _users_frame(ln.split("|") for ln in _read_lines(folder / "u.user", "latin-1"))
    return ratings, items, users


def _parse_recbole_100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = [ln.split("\t") for ln in _read_lines(folder / "ml-100k.inter", "utf-8", True)]
    arr = np.array([[int(u), int(i), int(float(r)), int(float(t))] for u, i, r, t in rows],
                   dtype=np.int64).reshape(-1, 4)
    ratings = _ratings_frame(arr)
    ids, titles, years, flags = [], [], [], []
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
    users = _users_frame(ln.split("\t")
                         for ln in _read_lines(folder / "ml-100k.user", "utf-8", True))
    return ratings, items, users


def _parse_grouplens_1m(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    arr = np.array([ln.split("::") for ln in _read_lines(folder / "ratings.dat", "latin-1")],
                   dtype=np.int64).reshape(-1, 4)
    ratings = _ratings_frame(arr)
    genres_1m = [g for g in GENRES if g != "unknown"]
    ids, titles, years, flags = [], [], [], []
    for ln in _read_lines(folder / "movies.dat", "latin-1"):
        mid, raw, gs = ln.split("::")
        title, year = _split_title(raw)
        g = set(gs.split("|"))
        ids.append(int(mid)); titles.append(title); years.append(year)
        flags.append([0] + [int(x in g) for x in genres_1m])
    items = _items_frame(ids, titles, years, flags)
    users = _users_frame([u, a, gdr, occ, z] for u, gdr, a, occ, z in
                         (ln.split("::") for ln in _read_lines(folder / "users.dat", "latin-1")))
    return ratings, items, users


_PARSERS = {"grouplens-100k": _parse_grouplens_100k, "recbole-100k": _parse_recbole_100k,
            "grouplens-1m": _parse_grouplens_1m}


# ----------------------------------------------------------------------------- fetching
def _obtain_archive(src: Source, downloads: Path, progress: bool) -> Path:
    """Return a verified archive for ``src``: from ``downloads/`` or freshly fetched."""
    path = downloads / src.filename
    if path.is_file():
        if sha256_of(path) == src.sha256:
            return path
        path.unlink()  # a corrupt file supplied by hand or left by an old version
    if src.kind == "url":
        return download_url(src.location, path, src.sha256, progress=progress)
    if src.kind == "pip":
        return pip_download(src.location, path, src.sha256)
    raise ValueError(f"unknown source kind {src.kind!r}")


def load_movielens(name: str, sources, home: Path | str | None = None,
                   progress: bool = True) -> MovieLens:
    """Load dataset ``name`` from the cache, or from the first of ``sources`` that works."""
    home = Path(home) if home is not None else data_home()
    folder = home / name
    marker = folder / "SOURCE"
    by_name = {s.name: s for s in sources}
    if marker.is_file():
        src_name = marker.read_text().strip()
        src = by_name.get(src_name)
        if src is not None and all((folder / f).is_file() for f in src.members.values()):
            return MovieLens(name, src_name, *_PARSERS[src.fmt](folder))
    errors = []
    downloads = home / "downloads"
    for src in sources:
        try:
            archive = _obtain_archive(src, downloads, progress)
            safe_extract(archive, folder, src.members)
            marker.write_text(src.name + "\n")
            return MovieLens(name, src.name, *_PARSERS[src.fmt](folder))
        except (OSError, DownloadError, ValueError, zipfile.BadZipFile) as exc:
            errors.append(f"  - {src.name} ({src.location}): {type(exc).__name__}: {exc}")
    raise DownloadError(
        f"could not obtain {name}. Sources tried, in order:\n" + "\n".join(errors) +
        f"\nTo supply the data by hand, copy one of "
        f"{', '.join(s.filename for s in sources)} into the folder 'downloads' of the "
        f"cache (set RECSYS_DATA to choose the cache; now: {home.name}/downloads).")


def load_ml100k(home: Path | str | None = None, progress: bool = True) -> MovieLens:
    """MovieLens-100K: 100,000 ratings by 943 users of 1,682 movies."""
    return load_movielens("ml-100k", ML100K_SOURCES, home, progress)


def load_ml1m(home: Path | str | None = None, progress: bool = True) -> MovieLens:
    """MovieLens-1M from GroupLens; raises ``DownloadError`` where it is not reachable."""
    return load_movielens("ml-1m", ML1M_SOURCES, home, progress)
