"""Image preprocessing against hy3dgen 2.0.2 ImageProcessorV2(size=512, border_ratio=0.15) (tests/fixtures/parity).

Fixtures from ../shared/parity/ref: `image/image_rgba.png` is `inputs/image_rgba.png` (the reference's input, a
300x240 RGBA picture with soft alpha edges, byte-identical copy); `conditioner_processed_image.png` and
`image/processed_mask.png` are `processed_image_uint8` / `processed_mask_uint8` of `conditioner.safetensors`
(lossless PNG). Recentring must reproduce them exactly: same crop, INTER_AREA / INTER_CUBIC / INTER_NEAREST
resizes, float32 white composite and truncation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentgen.image import load_image, prepare_image, recenter, to_model_tensor

from ..conftest import FIXTURES, shared_path

PARITY = FIXTURES / "parity"
INPUT = PARITY / "image" / "image_rgba.png"


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    """(processed image [512, 512, 3], processed mask [512, 512]) uint8, as hy3dgen made them."""
    rgb = np.asarray(Image.open(PARITY / "conditioner_processed_image.png"))
    mask = np.asarray(Image.open(PARITY / "image" / "processed_mask.png"))
    return rgb, mask


def test_recenter_reproduces_the_reference_exactly(reference):
    rgb, mask = recenter(np.asarray(load_image(INPUT)), size=512, border_ratio=0.15)
    assert np.array_equal(rgb, reference[0])
    assert np.array_equal(mask, reference[1])


def test_prepare_image_on_the_reference_input_takes_its_alpha_and_matches(reference):
    p = prepare_image(INPUT)
    assert p.method == "alpha"
    assert np.array_equal(p.rgb, reference[0]) and np.array_equal(p.mask, reference[1])
    # the reference's array_to_tensor: u8 / 255 * 2 - 1, HWC -> CHW, batch of one
    expected = (torch.from_numpy(reference[0].copy()).float() / 255 * 2 - 1).permute(2, 0, 1)[None]
    assert torch.equal(p.tensor, expected) and torch.equal(to_model_tensor(reference[0]), expected)


def test_fixtures_are_the_shared_reference_data(reference):
    """The copies in tests/ are what ../shared/parity/ref holds (skipped where ../shared is absent)."""
    from safetensors.numpy import load_file

    ref = load_file(shared_path("parity", "ref", "conditioner.safetensors"))
    assert np.array_equal(ref["processed_image_uint8"], reference[0])
    assert np.array_equal(ref["processed_mask_uint8"][..., 0], reference[1])
    assert INPUT.read_bytes() == shared_path("parity", "ref", "inputs", "image_rgba.png").read_bytes()
