"""Shared fixtures: small hand-made data, fake source archives, and the real ML-100K."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from recsys_lib.movielens import GENRES

# A few rows in the real GroupLens layout, including the awkward cases of ML-100K:
# a title with parentheses, a release date whose year differs from the title's, an accent
# (latin-1 in GroupLens, UTF-8 in RecBole), the untitled item 267 and an 'unknown' genre.
ITEMS = [
    # id, GroupLens title, release date, RecBole title, RecBole year, genres
    (
        1,
        "Toy Story (1995)",
        "01-Jan-1995",
        "Toy Story",
        "1995",
        ["Animation", "Children's", "Comedy"],
    ),
    (10, "Richard III (1995)", "22-Jan-1996", "Richard III", "1995", ["Drama", "War"]),
    (11, "Seven (Se7en) (1995)", "01-Jan-1995", "Seven (Se7en)", "1995", ["Crime", "Thriller"]),
    (267, "unknown", "", "unkonwn", "unkonwn", ["unknown"]),
    (543, "Misérables, Les (1995)", "01-Jan-1995", "Misérables, Les", "1995", ["Drama", "Musical"]),
    (1373, "Good Morning (1971)", "4-Feb-1971", "Good Morning", "1971", ["unknown"]),
]
USERS = [
    (1, 24, "M", "technician", "85711"),
    (2, 53, "F", "other", "94043"),
    (3, 23, "M", "writer", "T8H1N"),
]
RATINGS = [
    (1, 1, 5, 874965758),
    (1, 10, 3, 876893171),
    (2, 11, 4, 888550871),
    (3, 543, 2, 889237455),
    (3, 1, 4, 889237455),
    (2, 267, 1, 888551000),
    (1, 1373, 3, 876893171),
]


def pytest_collection_modifyitems(config, items):
    """Tests that read the real ML-100K are ``network`` (the first fetch needs the package
    index) and ``slow``; ``make test-fast`` leaves both out."""
    for item in items:
        if set(getattr(item, "fixturenames", ())) & {"ml100k", "ml100k_split"}:
            item.add_marker(pytest.mark.network)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def _private_model_store(tmp_path_factory):
    """Models trained by the tests (and the notebooks they execute) go to a temporary store,
    not to the checkout's data/models; the pytest workers of one run share it (writes are
    atomic), so that ``recsys_lib.testing.fitted_tiny`` trains each small model once."""
    import os

    base = tmp_path_factory.getbasetemp()
    store = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "model-store"
    store.mkdir(exist_ok=True)
    old = os.environ.get("RECSYS_MODELS")
    os.environ["RECSYS_MODELS"] = str(store)
    yield
    if old is None:
        os.environ.pop("RECSYS_MODELS", None)
    else:
        os.environ["RECSYS_MODELS"] = old


def _grouplens_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
        lines = []
        for iid, title, date, _, _, genres in ITEMS:
            flags = "|".join(str(int(g in genres)) for g in GENRES)
            lines.append(f"{iid}|{title}|{date}||http://us.imdb.com/x|{flags}\n")
        zf.writestr("ml-100k/u.item", "".join(lines).encode("latin-1"))
        zf.writestr("ml-100k/u.user", "".join("|".join(map(str, u)) + "\n" for u in USERS))
        zf.writestr("ml-100k/README", "fixture")
    return buf.getvalue()


def _recbole_wheel() -> bytes:
    d = "recbole/dataset_example/ml-100k/"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            d + "ml-100k.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
            + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS),
        )
        zf.writestr(
            d + "ml-100k.item",
            "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
            "class:token_seq\n"
            + "".join(f"{i}\t{t}\t{y}\t{' '.join(g)}\n" for i, _, _, t, y, g in ITEMS),
        )
        zf.writestr(
            d + "ml-100k.user",
            "user_id:token\tage:token\tgender:token\t"
            "occupation:token\tzip_code:token\n"
            + "".join("\t".join(map(str, u)) + "\n" for u in USERS),
        )
        zf.writestr("recbole/__init__.py", "")
    return buf.getvalue()


@pytest.fixture
def grouplens_zip_bytes() -> bytes:
    return _grouplens_zip()


@pytest.fixture
def recbole_wheel_bytes() -> bytes:
    return _recbole_wheel()


def tiny_interactions() -> pd.DataFrame:
    """Encoded interactions of 4 users over 6 items, with a timestamp tie."""
    rows = [  # user, item, rating, timestamp
        (0, 0, 5, 10),
        (0, 1, 4, 20),
        (0, 2, 3, 30),
        (0, 3, 5, 40),
        (1, 1, 2, 10),
        (1, 2, 5, 15),
        (1, 4, 1, 15),
        (1, 5, 4, 15),  # tie at 15: file order
        (2, 0, 3, 5),
        (2, 5, 3, 6),
        (2, 3, 4, 7),
        (3, 4, 4, 1),
        (3, 2, 4, 2),  # only two interactions: all training
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.fixture
def tiny():
    return tiny_interactions()


@pytest.fixture(scope="session")
def ml100k():
    """The real MovieLens-100K through the loader (fetched once, then cached)."""
    from recsys_lib.movielens import load_ml100k

    return load_ml100k(progress=False)


@pytest.fixture(scope="session")
def ml100k_split(ml100k):
    from recsys_lib.splits import protocol_split

    return protocol_split(ml100k)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
