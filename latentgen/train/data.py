"""Build the procedural training set of the shipped weights (or a custom one): `python -m latentgen.train.data OUT`.

The shipped weights/tiny were trained on TINY_DATA: every family, 40 training + 4 held-out shapes each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..data import FAMILIES, DatasetConfig, build_dataset

TINY_DATA = DatasetConfig(train_per_family=40, heldout_per_family=4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m latentgen.train.data", description="Build a procedural shape dataset.")
    p.add_argument("out", type=Path, help="dataset folder (resumable: finished shapes are kept)")
    p.add_argument("--per-family", type=int, default=TINY_DATA.train_per_family, help="training shapes per family")
    p.add_argument("--heldout", type=int, default=TINY_DATA.heldout_per_family, help="held-out shapes per family")
    p.add_argument("--families", nargs="*", default=list(FAMILIES), help="shape families (default: all)")
    p.add_argument("--workers", type=int, default=2, help="processes")
    a = p.parse_args(argv)
    config = DatasetConfig(families=tuple(a.families), train_per_family=a.per_family, heldout_per_family=a.heldout)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(phase: str, fraction: float) -> None:
        if fraction - last[0] >= 0.05 or fraction >= 1.0:
            last[0] = fraction
            print(f"{phase} {100 * fraction:.0f}% ({time.perf_counter() - t0:.0f} s)", flush=True)

    build_dataset(a.out, config, workers=a.workers, progress=progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
