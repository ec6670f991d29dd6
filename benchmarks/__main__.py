"""Run every ``benchmarks/bench_*.py`` (or those named) and print one table per benchmark.

Each module defines ``run(quick: bool) -> (title, header, rows)``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from geolib.course import format_table


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark names, e.g. models (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names]
    for name in modules:
        started = time.perf_counter()
        title, header, rows = importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)
        print(f"\n## {title}  ({time.perf_counter() - started:.1f} s)\n")
        print(format_table([[str(c) for c in row] for row in rows], header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
