"""Quality of the shipped (or any) weights, on shapes and images never seen in training (issue 6, item 5).

    python bench/quality.py                       # weights/tiny on out/train/data_dit + ../shared/data meshes, images
    python bench/quality.py --per-family 2 --report out/quality.json

A wrapper of `latentgen eval` with the repository's default inputs; any of its options can be added. Figures
(see latentgen/evaluate.py for the method): VAE volume IoU at --resolution^3 on held-out procedural shapes
(exact SDF truth) and on real meshes; image -> shape silhouette IoU on held-out procedural renders and on real
photos; sampling seconds per image. Bars of issue 6: procedural VAE >= 0.85, real meshes >= 0.5, procedural
silhouettes >= 0.75, real images >= 0.5.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main(argv: list[str]) -> None:
    from latentgen.cli import main as cli_main

    defaults = []
    for option, path in (
        ("--data", REPO / "out" / "train" / "data_dit"),
        ("--meshes", SHARED / "meshes"),
        ("--images", SHARED / "images"),
    ):
        if option not in argv and path.exists():
            defaults += [option, str(path)]
    sys.argv = ["latentgen", "eval", *defaults, *argv]
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
