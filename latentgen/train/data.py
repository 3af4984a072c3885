"""The procedural training set of the shipped weights: `latentgen train data OUT` builds TINY_DATA.

Every family, 40 training + 4 held-out shapes each (see weights/tiny/MODEL_CARD.md).
"""

from __future__ import annotations

from ..data import DatasetConfig

TINY_DATA = DatasetConfig(train_per_family=40, heldout_per_family=4)
