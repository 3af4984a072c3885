"""The procedural training set of the shipped weights: `latentgen train data OUT` builds TINY_DATA.

The 21 everyday families (machined parts only with `--family part`), 40 training + 4 held-out shapes each,
4 conditioning pictures per shape (lighting, colours and camera jitter differ; the DiT sees a random one each
time, evaluation the first). See weights/tiny/MODEL_CARD.md.
"""

from __future__ import annotations

from ..data import DatasetConfig
from ..data.shapes import FAMILIES

# the everyday families; "part" (machined parts) came later and is not in the shipped weights' data
EVERYDAY = tuple(f for f in FAMILIES if f != "part")
TINY_DATA = DatasetConfig(families=EVERYDAY, train_per_family=40, heldout_per_family=4, images_per_shape=4)
