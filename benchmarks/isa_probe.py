"""Does oneDNN's instruction set change trained weights? (book/reproducibility.md)

    for isa in "" AVX2 AVX SSE41; do ONEDNN_MAX_CPU_ISA=$isa python benchmarks/isa_probe.py; done

Trains four small networks (Conv1D, LSTM, GRU, Dense) for three epochs from seed 0 on fixed
random data and prints the ISA oneDNN was capped at, the seconds taken and a SHA-256 prefix of
each network's weights. Equal hashes: bit-identical training. ``recsys_lib`` caps the ISA at
AVX2 unless ``ONEDNN_MAX_CPU_ISA`` is already set (an empty value means "no cap").
"""

from __future__ import annotations

import hashlib
import os
import time

import keras  # noqa: E402
import numpy as np  # noqa: E402

from recsys_lib.utils import set_seed  # sets the library's environment before TensorFlow loads


def weights_hash(kind: str, x, y) -> str:
    set_seed(0)
    body = {
        "conv": [keras.layers.Conv1D(32, 3, activation="relu"), keras.layers.GlobalMaxPooling1D()],
        "lstm": [keras.layers.LSTM(32)],
        "gru": [keras.layers.GRU(32)],
        "dense": [keras.layers.Flatten(), keras.layers.Dense(64, activation="relu")],
    }[kind]
    model = keras.Sequential([keras.Input(x.shape[1:]), *body, keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    return hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()[:12]


def main() -> int:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 20, 16)).astype("float32")
    y = rng.normal(size=(512, 1)).astype("float32")
    t0 = time.perf_counter()
    hashes = {k: weights_hash(k, x, y) for k in ("conv", "lstm", "gru", "dense")}
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or "(no cap)"
    print(
        f"ONEDNN_MAX_CPU_ISA={isa:9s} {time.perf_counter() - t0:5.1f} s  "
        + "  ".join(f"{k}:{h}" for k, h in hashes.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
