"""ClueWorld generation throughput: in memory and written to disk, on 1 and all cores."""

from __future__ import annotations

import os
import tempfile
import time


def run(quick: bool = False):
    from geolib.world import generate, make_sample, write_world

    make_sample(0, 0)  # warm caches (GeoNames, fonts) outside the timings
    n = 400 if quick else 10_000
    cores = os.cpu_count() or 1
    rows = []
    for workers in sorted({1, cores}):
        count = n if workers > 1 else n // 4
        started = time.perf_counter()
        for _ in generate(count, seed=1, workers=workers, progress=False):
            pass
        seconds = time.perf_counter() - started
        rows.append(
            [
                "render in memory",
                workers,
                count,
                f"{seconds:.1f}",
                f"{count / seconds:.0f}",
                f"{10_000 / (count / seconds):.0f} s",
            ]
        )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_world(tmp, n, seed=2, workers=cores, progress=False)
        seconds = time.perf_counter() - started
        rows.append(
            [
                "write world + exports",
                cores,
                n,
                f"{seconds:.1f}",
                f"{n / seconds:.0f}",
                f"{10_000 / (n / seconds):.0f} s",
            ]
        )
    header = ["what", "workers", "samples", "seconds", "samples/s", "time for 10,000"]
    return (
        "ClueWorld generation (256 px street view, 128 px tiles; target: 10,000 in 120 s on 2 cores)",
        header,
        rows,
    )
