"""A hash of a split's content: its interactions and its side tables.

It binds a cache record and a training checkpoint to the data they were made from: two splits of
the same shape but with other interactions (``hold_out_items`` makes such pairs) or another item
table (titles, genres) get different keys.
"""
from __future__ import annotations

import hashlib
import json

__all__ = ["data_key"]


def _frame_bytes(df) -> bytes:
    import pandas as pd

    cols = sorted(map(str, df.columns))
    head = json.dumps([cols, [str(df[c].dtype) for c in cols], len(df)]).encode()
    body = pd.util.hash_pandas_object(df[cols], index=False).to_numpy().tobytes()
    return head + body


def data_key(split) -> str:
    """A hash of the split's content: its interactions and its side tables."""
    h = hashlib.sha256(f"{split.num_users}x{split.num_items}".encode())
    for part in (split.train, split.valid, split.test):
        h.update(_frame_bytes(part))
    for side in ("items", "users"):
        table = getattr(split, side, None)
        h.update(side.encode() + (b"-" if table is None else _frame_bytes(table)))
    return h.hexdigest()[:16]
