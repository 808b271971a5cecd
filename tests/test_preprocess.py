"""Step 1: validation, de-duplication, id encoding, implicit feedback, k-core."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.preprocess import (
    deduplicate,
    encode_ids,
    k_core,
    to_implicit,
    validate_interactions,
)


def test_validate_rejects_bad_frames(tiny):
    with pytest.raises(ValueError, match="empty"):
        validate_interactions(tiny.iloc[:0])
    with pytest.raises(ValueError, match="lacks column"):
        validate_interactions(tiny.drop(columns="timestamp"))
    bad = tiny.astype({"timestamp": float})
    bad.loc[0, "timestamp"] = np.nan
    with pytest.raises(ValueError, match="missing value"):
        validate_interactions(bad)
    with pytest.raises(ValueError, match="numeric"):
        validate_interactions(tiny.assign(user_id=tiny.user_id.astype(str)))
    with pytest.raises(TypeError):
        validate_interactions([1, 2, 3])


def test_deduplicate_keeps_latest_pair():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "item_id": [5, 5, 6, 5],
            "rating": [1, 4, 3, 2],
            "timestamp": [10, 30, 20, 10],
        }
    )
    out = deduplicate(df)
    assert len(out) == 3
    assert out.loc[(out.user_id == 1) & (out.item_id == 5), "rating"].item() == 4
    first = deduplicate(df, keep="first")
    assert first.loc[(first.user_id == 1) & (first.item_id == 5), "rating"].item() == 1


def test_encode_ids_contiguous_and_reversible():
    df = pd.DataFrame({"user_id": [10, 30, 10], "item_id": [7, 3, 99], "timestamp": [1, 2, 3]})
    enc, idmap = encode_ids(df, item_universe=[3, 7, 50, 99])
    assert enc.user_id.tolist() == [0, 1, 0]
    assert enc.item_id.tolist() == [1, 0, 3]
    assert idmap.num_items == 4 and idmap.items[enc.item_id].tolist() == [7, 3, 99]
    assert idmap.users[enc.user_id].tolist() == [10, 30, 10]
    with pytest.raises(KeyError, match="unknown item id"):
        idmap.encode_items([7, 12345])
    with pytest.raises(KeyError, match="unknown user id"):
        idmap.encode_users([11])
    with pytest.raises(KeyError):  # an interaction with an item outside the catalogue
        encode_ids(df, item_universe=[3, 7])


def test_to_implicit_keeps_all_ratings_by_default(tiny):
    assert len(to_implicit(tiny)) == len(tiny)
    assert (to_implicit(tiny, min_rating=4).rating >= 4).all()


def test_k_core_converges(tiny):
    out = k_core(tiny, k_user=3, k_item=2)
    assert (out.user_id.value_counts() >= 3).all()
    assert (out.item_id.value_counts() >= 2).all()
    with pytest.raises(ValueError, match="empty"):
        k_core(tiny, k_user=50, k_item=50)
