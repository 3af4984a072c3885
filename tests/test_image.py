"""Image input: every file format and mode, bad files, foreground masks, recentring and the stage entry point."""

import struct
import sys
import types
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from latentgen import image as image_mod
from latentgen.errors import ConfigError, InputError, OptionError
from latentgen.image import (
    PreparedImage,
    foreground_mask,
    grabcut_mask,
    load_image,
    mask_to_png,
    prepare_image,
    recenter,
    to_model_tensor,
)

from .conftest import IMAGES

RNG = np.random.default_rng(0)


def scene(h=120, w=160, background=(118, 122, 128), noise=2.0, rng=None):
    """A photo-like picture: a shaded red ellipse on `background` (a colour or an [h, w, 3] array) + sensor noise.

    Returns (rgb [h, w, 3] uint8, truth [h, w] bool).
    """
    rng = rng or np.random.default_rng(1)
    yy, xx = np.mgrid[:h, :w]
    cy, cx, ry, rx = h * 0.5, w * 0.5, h * 0.3, w * 0.25
    truth = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    bg = np.broadcast_to(np.asarray(background, np.float32), (h, w, 3))
    shade = (1.0 - 0.35 * (xx - cx + rx) / (2 * rx))[..., None]  # lit from the left
    obj = np.array([210, 70, 45], np.float32) * shade
    rgb = np.where(truth[..., None], obj, bg) + rng.normal(0, noise, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8), truth


def iou(mask, truth):
    m = mask >= 128
    return (m & truth).sum() / (m | truth).sum()


# ---------------------------------------------------------------------------------------------------------------
# Formats and modes


@pytest.mark.parametrize(
    "name, kwargs, tol",
    [("a.png", {}, 0), ("a.jpg", {"quality": 95}, 12), ("a.webp", {"lossless": True}, 0), ("a.bmp", {}, 0),
     ("a.tif", {}, 0), ("a.tiff", {"compression": "tiff_lzw"}, 0)],
)  # fmt: skip
def test_every_format_loads_as_upright_rgba(tmp_path, name, kwargs, tol):
    rgb, _ = scene(48, 64)
    Image.fromarray(rgb).save(tmp_path / name, **kwargs)
    img = load_image(tmp_path / name)
    assert img.mode == "RGBA" and img.size == (64, 48)
    arr = np.asarray(img)
    assert (arr[..., 3] == 255).all()
    assert np.abs(arr[..., :3].astype(int) - rgb).mean() <= tol


@pytest.mark.parametrize("name", ["a.png", "a.webp", "a.tif"])
def test_alpha_survives_formats_that_carry_it(tmp_path, name):
    rgb, truth = scene(48, 64)
    rgba = np.dstack([rgb, np.where(truth, 255, 0).astype(np.uint8)])
    rgba[0, :8, 3] = 77  # a soft alpha value must come through unchanged
    Image.fromarray(rgba, "RGBA").save(
        tmp_path / name, **({"lossless": True, "exact": True} if name.endswith("webp") else {})
    )
    assert (np.asarray(load_image(tmp_path / name)) == rgba).all()


def test_grey_and_grey_alpha(tmp_path):
    grey = RNG.integers(0, 256, (40, 50), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    arr = np.asarray(load_image(tmp_path / "l.png"))
    assert (arr[..., 0] == grey).all() and (arr[..., 2] == grey).all() and (arr[..., 3] == 255).all()
    alpha = np.where(grey > 128, 255, 0).astype(np.uint8)
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    arr = np.asarray(load_image(tmp_path / "la.png"))
    assert (arr[..., 1] == grey).all() and (arr[..., 3] == alpha).all()


def test_palette_with_transparency_becomes_alpha(tmp_path):
    idx = np.zeros((40, 40), np.uint8)
    idx[10:30, 10:30] = 1
    img = Image.fromarray(idx, "P")
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.save(tmp_path / "p.png", transparency=0)  # tRNS chunk: index 0 is transparent
    arr = np.asarray(load_image(tmp_path / "p.png"))
    assert (arr[..., 3] == np.where(idx == 1, 255, 0)).all()
    assert tuple(arr[20, 20]) == (200, 30, 30, 255)


@pytest.mark.parametrize("name", ["c.tif", "c.jpg"])
def test_cmyk_is_converted_to_rgb(tmp_path, name):
    rgb, _ = scene(48, 64, noise=0)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / name)
    assert Image.open(tmp_path / name).mode == "CMYK"
    arr = np.asarray(load_image(tmp_path / name))[..., :3].astype(int)
    assert np.abs(arr - rgb).mean() < (1 if name.endswith("tif") else 6)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    grey16 = np.array([[0, 257 * 128, 65535] * 12] * 36, np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    arr = np.asarray(load_image(tmp_path / "g16.png"))
    assert list(arr[0, :3, 0]) == [0, 128, 255]


@pytest.mark.parametrize("name", ["c16.png", "c16.tif"])
def test_16_bit_colour_is_reduced_to_8_bit(tmp_path, name):
    rgb16 = np.zeros((32, 40, 3), np.uint16)
    rgb16[...] = (65535, 32896, 0)  # RGB
    cv2.imwrite(str(tmp_path / name), rgb16[..., ::-1])  # OpenCV writes BGR
    assert tuple(np.asarray(load_image(tmp_path / name))[5, 5]) == (255, 128, 0, 255)


def test_float_tiff_in_0_1(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (36, 1))
    Image.fromarray(ramp, "F").save(tmp_path / "f.tif")
    arr = np.asarray(load_image(tmp_path / "f.tif"))
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255


@pytest.mark.parametrize("name", ["r.jpg", "r.png"])
def test_exif_orientation_is_applied(tmp_path, name):
    arr = np.full((40, 64, 3), 40, np.uint8)
    arr[:16, :16] = (250, 20, 20)  # a red block at the top-left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display" (portrait photo from a phone)
    Image.fromarray(arr).save(tmp_path / name, exif=exif)
    img = load_image(tmp_path / name)
    assert img.size == (40, 64)  # width and height swapped
    shown = np.asarray(img)
    assert shown[4, -4, 0] > 200 and shown[4, 4, 0] < 100  # the block is now at the top-right


# ---------------------------------------------------------------------------------------------------------------
# Bad files: one line, naming the file, InputError (exit 2)


def png_header_only(width, height):
    """A PNG that declares a size in its header but has no pixel data (a cheap stand-in for a huge file)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def _valid_png_bytes():
    path_rgb, _ = scene(64, 64, noise=30)
    buf = __import__("io").BytesIO()
    Image.fromarray(path_rgb).save(buf, "PNG")
    return buf.getvalue()


BAD = {
    "missing.png": (None, "no such file"),
    "zero[1].png": (b"", "empty"),
    "notes.png": (b"these are my notes, not a picture\n" * 4, "not an image"),
    "corrupt.png": (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 40, "image"),
    "truncated.png": (_valid_png_bytes()[:300], "truncated"),
    "tiny.png": (png_header_only(1, 1), "too small"),
    "thin.png": (png_header_only(20000, 8), "too small"),
    "huge.png": (png_header_only(20000, 20000), "too large"),
    "big.png": (png_header_only(9000, 8000), "larger than"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_files_give_one_line_naming_the_file(tmp_path, name):
    data, words = BAD[name]
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(InputError) as e:
        load_image(path)
    msg = str(e.value)
    assert name in msg and "\n" not in msg and words in msg.lower()


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)


def test_fully_transparent_image_is_refused(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 200  # colour but no coverage
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ghost.png")
    with pytest.raises(InputError, match="ghost.png: image is fully transparent"):
        load_image(tmp_path / "ghost.png")


def test_uniform_picture_has_no_object(tmp_path):
    Image.new("RGB", (200, 150), (90, 140, 200)).save(tmp_path / "wall.jpg", quality=90)
    with pytest.raises(InputError, match=r"wall\.jpg: no object found"):
        prepare_image(tmp_path / "wall.jpg")


def test_a_picture_read_once_is_prepared_as_its_file_and_errors_name_the_file(tmp_path):
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[20:60, 30:50] = (200, 60, 40, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "box.png")
    picture = load_image(tmp_path / "box.png")  # what the CLI reads early, to fail before loading models
    prep = prepare_image(picture, source=tmp_path / "box.png")
    from_file = prepare_image(tmp_path / "box.png")
    assert prep.source == from_file.source and np.array_equal(prep.rgb, from_file.rgb)
    Image.new("RGB", (200, 150), (90, 140, 200)).save(tmp_path / "wall.jpg", quality=90)
    with pytest.raises(InputError, match=r"wall\.jpg: no object found"):
        prepare_image(load_image(tmp_path / "wall.jpg"), source=tmp_path / "wall.jpg")


# ---------------------------------------------------------------------------------------------------------------
# Foreground


def test_auto_uses_a_meaningful_alpha_channel_as_is():
    rgb, truth = scene()
    alpha = np.where(truth, 255, 0).astype(np.uint8)
    alpha[truth & (np.arange(160) % 7 == 0)] = 128  # soft values are kept, not thresholded
    assert (foreground_mask(np.dstack([rgb, alpha])) == alpha).all()


def test_alpha_method_on_an_opaque_picture_takes_the_whole_frame_as_the_reference_does():
    rgb, _ = scene()
    assert (foreground_mask(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "alpha") == 255).all()


def test_unknown_method_is_an_option_error():
    with pytest.raises(OptionError, match="choose one of auto, alpha, grabcut, rembg"):
        foreground_mask(np.zeros((40, 40, 4), np.uint8) + 255, "magic")


@pytest.mark.parametrize("kind", ["flat", "gradient", "wall_and_table", "white"])
def test_grabcut_finds_the_object_on_common_backgrounds(kind):
    h, w = 120, 160
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    wall = np.arange(h)[:, None, None] < 80  # a blue wall above a beige table top
    backgrounds = {
        "flat": (118, 122, 128),
        "gradient": (215 - 80 * y) * np.ones((h, w, 3), np.float32),
        "wall_and_table": np.where(wall, (80, 120, 170), (140, 128, 110)) * np.ones((1, w, 1)),
        "white": (255, 255, 255),
    }  # fmt: skip
    rgb, truth = scene(h, w, backgrounds[kind])
    mask = grabcut_mask(rgb)
    assert mask.shape == truth.shape and mask.dtype == np.uint8
    assert iou(mask, truth) > 0.95


def test_object_cut_by_the_image_edge_is_kept_to_the_edge():
    rgb, truth = scene(120, 160)
    rgb, truth = rgb[:100], truth[:100]  # the ellipse now leaves through the bottom edge
    mask = grabcut_mask(rgb)
    assert iou(mask, truth) > 0.93
    assert (mask[-1] >= 128).sum() >= 0.8 * truth[-1].sum()


def test_specks_are_dropped_and_highlights_filled_but_a_real_hole_stays():
    h, w = 160, 200
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - 80, xx - 100)
    ring = (r <= 60) & (r >= 25)  # a donut: its hole shows the background
    rgb = np.full((h, w, 3), 120, np.float32) + RNG.normal(0, 2, (h, w, 3))
    rgb[ring] = (40, 90, 200)
    highlight = np.hypot(yy - 80, xx - 57) <= 2  # a small background-grey glint on the donut
    rgb[highlight] = 120
    speck = np.hypot(yy - 20, xx - 180) <= 2  # dust far from the object
    rgb[speck] = (40, 90, 200)
    mask = grabcut_mask(np.clip(rgb, 0, 255).astype(np.uint8)) >= 128
    assert not mask[80, 100] and not mask[speck].any()
    assert mask[highlight].all()
    assert iou(mask.astype(np.uint8) * 255, ring | highlight) > 0.93


def test_grabcut_is_deterministic():
    rgb, _ = scene(noise=6, background=(150, 150, 150))
    assert (grabcut_mask(rgb) == grabcut_mask(rgb)).all()


def test_large_pictures_are_segmented_at_working_size_and_scaled_back():
    rgb, truth = scene(600, 800, noise=3)
    mask = grabcut_mask(rgb)
    assert mask.shape == (600, 800) and iou(mask, truth) > 0.97
    assert len(np.unique(mask)) > 2  # the edge is soft, like an anti-aliased cut-out


# ---------------------------------------------------------------------------------------------------------------
# rembg: opt-in, and never downloads


def test_rembg_not_installed_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(image_mod, "_rembg_installed", lambda: False)
    with pytest.raises(ConfigError, match="pip install rembg"):
        foreground_mask(np.dstack([scene()[0], np.full((120, 160), 255, np.uint8)]), "rembg")


@pytest.fixture
def fake_rembg(monkeypatch):
    """A stand-in `rembg` package that records its calls; returns the mask of the scene's ellipse."""
    calls = []
    mod = types.ModuleType("rembg")

    def new_session(name, **kwargs):
        calls.append(("new_session", name, kwargs))
        return "session"

    def remove(img, session=None, only_mask=False):
        calls.append(("remove", session, only_mask))
        return Image.fromarray(np.where(scene()[1], 255, 0).astype(np.uint8), "L")

    mod.new_session, mod.remove = new_session, remove
    monkeypatch.setitem(sys.modules, "rembg", mod)
    monkeypatch.setattr(image_mod, "_rembg_installed", lambda: True)
    return calls


def test_rembg_without_its_model_on_disk_refuses_instead_of_downloading(fake_rembg, tmp_path, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as e:
        foreground_mask(np.dstack([scene()[0], np.full((120, 160), 255, np.uint8)]), "rembg")
    assert str(tmp_path / "u2net.onnx") in str(e.value) and "never downloads" in str(e.value)
    assert fake_rembg == []  # rembg was not even asked for a session


def test_rembg_uses_the_model_file_already_on_disk(fake_rembg, tmp_path, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    (tmp_path / "u2net.onnx").write_bytes(b"onnx weights")
    rgb, truth = scene()
    prepared = prepare_image(Image.fromarray(rgb), method="rembg")
    assert prepared.method == "rembg" and iou(prepared.foreground, truth) == 1.0
    assert fake_rembg[0] == ("new_session", "u2net_custom", {"model_path": str(tmp_path / "u2net.onnx")})
    assert fake_rembg[1] == ("remove", "session", True)


# ---------------------------------------------------------------------------------------------------------------
# Recentring and the model tensor


def test_recenter_puts_the_object_in_the_middle_with_the_border_and_white_around():
    rgba = np.zeros((300, 200, 4), np.uint8)
    rgba[40:100, 20:60] = (10, 200, 30, 255)  # a 60x40 object off to the top-left
    rgb, mask = recenter(rgba, size=512, border_ratio=0.15)
    assert rgb.shape == (512, 512, 3) and mask.shape == (512, 512) and rgb.dtype == mask.dtype == np.uint8
    rows, cols = np.nonzero(mask)
    assert abs((rows.max() - rows.min() + 1) - int(512 * 0.85)) <= 3  # longer side fills 85 %
    assert abs((rows.min() + rows.max()) / 2 - 255.5) <= 2 and abs((cols.min() + cols.max()) / 2 - 255.5) <= 2
    near = cv2.dilate(mask, np.ones((9, 9), np.uint8))  # bicubic resampling rings a few pixels past the mask
    assert (rgb[near == 0] == 255).all()  # white outside the object
    assert tuple(rgb[256, 256]) == (10, 200, 30)


def test_recenter_refuses_a_line_of_pixels():
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[30, 5:50, 3] = 255
    with pytest.raises(InputError, match="single line of pixels"):
        recenter(rgba)


def test_recenter_checks_the_border_ratio():
    with pytest.raises(OptionError, match="border_ratio"):
        recenter(np.full((64, 64, 4), 255, np.uint8), border_ratio=1.0)


def test_model_tensor_is_chw_in_minus_one_to_one():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0, 255, 51
    t = to_model_tensor(rgb)
    assert t.shape == (1, 3, 4, 4) and t.dtype == torch.float32
    assert t[0, 0].eq(-1).all() and t[0, 1].eq(1).all() and torch.allclose(t[0, 2], torch.tensor(-0.6))


# ---------------------------------------------------------------------------------------------------------------
# Entry point


def test_prepare_image_from_a_photo_file(tmp_path):
    rgb, truth = scene(240, 320)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    p = prepare_image(tmp_path / "photo.jpg", size=256)
    assert isinstance(p, PreparedImage) and p.method == "grabcut" and p.source == tmp_path / "photo.jpg"
    assert p.rgb.shape == (256, 256, 3) and p.mask.shape == (256, 256) and p.tensor.shape == (1, 3, 256, 256)
    assert torch.equal(p.tensor, to_model_tensor(p.rgb))
    assert p.foreground.shape == (240, 320) and iou(p.foreground, truth) > 0.95


def test_prepare_image_from_a_pil_cutout_uses_its_alpha():
    rgb, truth = scene()
    p = prepare_image(Image.fromarray(np.dstack([rgb, np.where(truth, 255, 0).astype(np.uint8)]), "RGBA"))
    assert p.method == "alpha" and p.source is None and p.rgb.shape == (512, 512, 3)


def test_mask_png_round_trips():
    mask = (RNG.random((30, 40)) > 0.5).astype(np.uint8) * 255
    img = mask_to_png(mask[..., None])
    assert img.mode == "L" and (np.asarray(img) == mask).all()
    with pytest.raises(ValueError):
        mask_to_png(mask.astype(np.float32))


# ---------------------------------------------------------------------------------------------------------------
# Background removal on the shared photos without alpha (hand-checked points; skipped without ../shared)

# (x, y) points checked by eye on each picture: sure object, sure background (the teapot's handle hole, the
# gap inside the mushroom teapot's spiral handle, the wall between the tulips, the table, shadows)
SHARED = {
    "tripo_teapot.png": ([(462, 499), (437, 212), (250, 560)], [(718, 412), (60, 60), (437, 800)], (0.2, 0.3)),
    "tripo_poly_fox.png": ([(629, 483), (249, 658), (640, 300)], [(146, 439), (900, 900), (600, 900)], (0.22, 0.34)),
    "hy3d2_example_002_whale.png": (
        [(366, 380), (512, 700), (820, 700)],
        [(336, 702), (658, 761), (100, 100)],
        (0.15, 0.25),
    ),
    "instantmesh_mushroom_teapot.jpg": (
        [(266, 201), (290, 350), (110, 245)],
        [(452, 340), (170, 260), (420, 455), (200, 465), (300, 480), (30, 30)],
        (0.22, 0.34),
    ),
    "instantmesh_plant.jpg": ([(368, 224), (224, 790), (60, 500)], [(66, 66), (526, 895), (200, 100)], (0.33, 0.5)),
}
FLAT = {"tripo_teapot.png": 127, "tripo_poly_fox.png": 127, "hy3d2_example_002_whale.png": 255}


@pytest.fixture(scope="module")
def shared_masks():
    if not IMAGES.exists():
        pytest.skip(f"shared data not available: {IMAGES}")
    return {name: prepare_image(IMAGES / name) for name in SHARED}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_background_removal_on_shared_photos(shared_masks, name):
    inside, outside, (lo, hi) = SHARED[name]
    p = shared_masks[name]
    fg = p.foreground >= 128
    assert p.method == "grabcut"
    assert all(fg[y, x] for x, y in inside), [(x, y) for x, y in inside if not fg[y, x]]
    assert not any(fg[y, x] for x, y in outside), [(x, y) for x, y in outside if fg[y, x]]
    assert not fg[0].any() and not fg[:, -1].any() or name == "instantmesh_plant.jpg"  # leaves touch the sides
    assert lo < fg.mean() < hi
    if name in FLAT:  # a flat backdrop: the object is what differs from its colour
        rgb = np.asarray(Image.open(IMAGES / name).convert("RGB")).astype(int)
        expected = np.abs(rgb - FLAT[name]).max(-1) > 8
        assert (fg & expected).sum() / (fg | expected).sum() > 0.95
