"""Run the benchmarks: ``python -m benchmarks.run [NAME ...] [--quick] [--repeats N]``.

NAME is a module of this folder without the ``bench_`` prefix (``rsvd``, ``skeleton``, …);
none runs them all. Each module's cases go through its tools in separate processes and print
one Markdown table per case (see :mod:`benchmarks.harness`).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from benchmarks.harness import run_module


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    p.add_argument("--quick", action="store_true", help="small cases only (a smoke test)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    for name in args.names or available():
        module = f"benchmarks.bench_{name}"
        mod = importlib.import_module(module)
        print(f"## {name}\n")
        custom = getattr(mod, "main", None)
        if custom is not None:
            custom(quick=args.quick, repeats=args.repeats)
        else:
            run_module(module, quick=args.quick, repeats=args.repeats)


if __name__ == "__main__":
    main()
