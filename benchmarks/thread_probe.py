"""Does TensorFlow's thread count change trained weights? (book/reproducibility.md)

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 python benchmarks/thread_probe.py 1
    python benchmarks/thread_probe.py default

Trains five of the book's models for one epoch (BPR two) from seed 0 on the real ML-100K split,
validation only, and prints the label, the seconds taken and a SHA-256 prefix of each model's
weights. Equal hashes: bit-identical training. TensorFlow sizes its thread pools by the number
of cores unless told otherwise, so this is what moves when the same code runs on a computer
with more cores than the 2 this book was executed on.
"""

from __future__ import annotations

import hashlib
import sys
import time

from recsys_lib.experiment import load_split
from recsys_lib.registry import make_model

MODELS = [
    ("gru4rec", dict(epochs=1)),
    ("bpr", dict(epochs=2, eval_every=1)),
    ("caser", dict(epochs=1)),
    ("sasrec", dict(epochs=1)),
    ("cnn-content", dict(epochs=1)),
]


def main(label: str) -> None:
    split = load_split()
    for name, kw in MODELS:
        t0 = time.perf_counter()
        model = make_model(name, seed=0, **kw).fit(split, refit=False)
        weights = b"".join(w.tobytes() for ws in model.network_weights().values() for w in ws)
        print(
            label,
            name,
            round(time.perf_counter() - t0, 1),
            hashlib.sha256(weights).hexdigest()[:12],
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default")
