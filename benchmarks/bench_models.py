"""Model registry: cost of resolving a cached tiny model, and the sentence encoder's CPU throughput."""

from __future__ import annotations

import time


def run(quick: bool = False):
    from sentence_transformers import SentenceTransformer

    from geolib import profiles

    rows = []
    started = time.perf_counter()
    path = profiles.resolve("sentence-encoder")
    rows.append(
        ["resolve('sentence-encoder'), cached", "1 call", f"{(time.perf_counter() - started) * 1e3:.1f} ms"]
    )
    started = time.perf_counter()
    encoder = SentenceTransformer(path, device=str(profiles.device()))
    rows.append(["load sentence encoder", "1 model", f"{time.perf_counter() - started:.2f} s"])
    sentences = [f"a yellow centre line and a {i}-storey building with Cyrillic signs" for i in range(256)]
    for batch in (1, 32) if quick else (1, 32, 128):
        n = 32 if quick else 256
        started = time.perf_counter()
        encoder.encode(sentences[:n], batch_size=batch)
        rate = n / (time.perf_counter() - started)
        rows.append([f"encode, batch {batch}", f"{n} sentences", f"{rate:.0f} sentences/s"])
    return f"Model registry and sentence encoder on {profiles.device()}", ["what", "size", "result"], rows
