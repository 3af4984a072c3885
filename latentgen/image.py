"""Image input: read a photo, find the object, and recentre it for the conditioner.

`prepare_image` is the one entry point for the stages. It chains pure functions that can be used alone:
`load_image` (any common raster file -> RGBA), `foreground_mask` (alpha, GrabCut or rembg -> uint8 mask),
`recenter` (the reference ImageProcessorV2: crop to the mask, 15 % border, white composite, 512 px) and
`to_model_tensor` ([-1, 1] float tensor).
"""

from __future__ import annotations

import importlib.util
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ConfigError, InputError, OptionError, StageError
from .files import check_input_file

MIN_SIDE = 32  # smaller pictures carry too little of the object to condition on
MAX_PIXELS = 64_000_000  # below PIL's own bomb warning (89 M px), so it never fires for a file we accept
METHODS = ("auto", "alpha", "grabcut", "rembg")
REMBG_MODEL = "u2net.onnx"  # the model rembg's default session uses

# Foreground detection (GrabCut path). Colour distances are CIELAB Delta-E (L in [0, 100]).
WORK_SIDE = 512  # GrabCut runs at this longer side; the mask is scaled back up
BORDER_FRAC = 0.02  # width of the image frame strip that samples the background
MIN_FOREGROUND_FRAC = 0.002  # less than this share of the picture is no object at all
MAX_FOREGROUND_FRAC = 0.97  # more than this means background and object could not be told apart
FRAME_CLUSTERS = 8  # colour clusters of the frame strip: enough for a wall + table or a gradient
MINOR_CLUSTER_SHARE = 0.025  # a frame cluster smaller than this may be the object touching the edge
MIN_COLOUR_STEP = 10.0  # Delta-E: below this, a colour is not told apart from the background
DEVIATION_GAIN = 2.0  # Delta-E -> 8-bit levels of the image GrabCut segments (+-64 Delta-E fits)
KEEP_COMPONENT_SHARE = 0.05  # object parts smaller than this share of the largest one are specks
SMALL_HOLE_SHARE = 0.002  # holes below this share of the object area (highlights) are filled whatever their colour


@dataclass(eq=False)
class PreparedImage:
    """A picture ready for the conditioner, plus what was decided on the way (for the user to check)."""

    rgb: np.ndarray  # [S, S, 3] uint8: the object recentred on white, what the model sees
    mask: np.ndarray  # [S, S] uint8: foreground after recentring
    tensor: torch.Tensor  # [1, 3, S, S] float32 in [-1, 1]
    source: Path | None  # the file it came from, None for an in-memory image
    method: str  # foreground method actually used: "alpha", "grabcut" or "rembg"
    foreground: np.ndarray = field(repr=False)  # [H, W] uint8: the mask on the input picture


# ---------------------------------------------------------------------------------------------------------------
# Loading


def load_image(path: Path | str) -> Image.Image:
    """Read PNG / JPEG / WebP / BMP / TIFF (any mode, 8 or 16 bit) as an upright RGBA image.

    EXIF orientation is applied. Every unusable file raises InputError with a one-line message naming it.
    """
    path = check_input_file(Path(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_size(img.size, str(path))  # header only: refuse a bomb before decoding it
                img.load()
                rgba = to_rgba(img)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:  # PIL's own limit, met before ours
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f" ({int(pixels[1]) / 1e6:.0f} Mpx)" if pixels else ""
        raise InputError(
            f"{path}: image is too large to load safely{size}; the limit is {MAX_PIXELS / 1e6:.0f} Mpx, "
            "downscale it first"
        ) from e
    except UnidentifiedImageError as e:
        raise InputError(f"{path}: not an image file PIL can read (PNG, JPEG, WebP, BMP, TIFF, ...)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt data inside a known format
        raise InputError(f"{path}: corrupt or truncated image ({_short(e)})") from e
    _check_size(rgba.size, str(path))  # EXIF rotation can swap sides; cheap to check again
    if not np.asarray(rgba)[..., 3].any():
        raise InputError(f"{path}: image is fully transparent, there is no object to model")
    return rgba


def to_rgba(img: Image.Image) -> Image.Image:
    """Any PIL mode -> upright 8-bit RGBA. 16-bit grey is scaled, not clipped (PIL's convert clips it)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        grey = np.asarray(img, dtype=np.float64)
        scale = 255.0 if grey.max(initial=0.0) <= 1.0 else 1.0  # float images are usually [0, 1]
        img = Image.fromarray(np.clip(np.rint(grey * scale), 0, 255).astype(np.uint8), "L")
    elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if img.mode == "P" and "transparency" not in img.info:
        img = img.convert("RGB")
    return img.convert("RGBA")  # L, LA, P (+tRNS), PA, 1, RGB, RGBA


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(
            f"{name}: image is {w}x{h} ({w * h / 1e6:.0f} Mpx), larger than the {MAX_PIXELS / 1e6:.0f} Mpx limit; "
            "downscale it first"
        )
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name}: image is {w}x{h}, too small (need at least {MIN_SIDE} px on each side)")


def _short(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


# ---------------------------------------------------------------------------------------------------------------
# Foreground


def has_meaningful_alpha(rgba: Image.Image | np.ndarray) -> bool:
    """True when the alpha channel marks something out, i.e. it is not all-opaque."""
    alpha = _as_rgba_array(rgba)[..., 3]
    return bool((alpha < 255).any())


def foreground_mask(rgba: Image.Image | np.ndarray, method: str = "auto") -> np.ndarray:
    """RGBA [H, W, 4] -> foreground mask [H, W] uint8 (255 = object).

    method: "alpha" uses the alpha channel as is (an all-opaque picture then counts as all object, as in the
    reference); "grabcut" estimates the background from the image frame and segments with OpenCV GrabCut (no
    model needed); "rembg" runs rembg's u2net if the package and its model file are already installed; "auto"
    is "alpha" when the alpha channel is meaningful, else "grabcut". Raises InputError when no object is found.
    """
    return _foreground(_as_rgba_array(rgba), method)[0]


def _foreground(arr: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    if method not in METHODS:
        raise OptionError(f"foreground method {method!r}: choose one of {', '.join(METHODS)}")
    if not arr[..., 3].any():
        raise InputError("image is fully transparent, there is no object to model")
    if method == "auto":
        method = "alpha" if has_meaningful_alpha(arr) else "grabcut"
    if method == "alpha":
        return arr[..., 3].copy(), method
    rgb = np.ascontiguousarray(arr[..., :3])
    mask = grabcut_mask(rgb) if method == "grabcut" else rembg_mask(rgb)
    _check_foreground(mask)
    return mask, method


def _check_foreground(mask: np.ndarray) -> None:
    share = float((mask >= 128).mean())
    if share < MIN_FOREGROUND_FRAC:
        raise InputError("no object found: the picture looks like plain background")
    if share > MAX_FOREGROUND_FRAC:
        raise InputError(
            "could not separate the object from the background (it fills the whole picture); "
            "give an RGBA cut-out or try --rembg"
        )


def mask_to_png(mask: np.ndarray) -> Image.Image:
    """mask [H, W] (or [H, W, 1]) uint8 -> greyscale PIL image for saving next to the outputs."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"expected a uint8 mask [H, W], got {mask.dtype} {mask.shape}")
    return Image.fromarray(mask, "L")


def _as_rgba_array(rgba: Image.Image | np.ndarray) -> np.ndarray:
    arr = np.asarray(to_rgba(rgba) if isinstance(rgba, Image.Image) else rgba)
    if arr.ndim != 3 or arr.shape[-1] != 4 or arr.dtype != np.uint8:
        raise ValueError(f"expected RGBA uint8 [H, W, 4], got {arr.dtype} {arr.shape}")
    return arr


# ---------------------------------------------------------------------------------------------------------------
# GrabCut background removal (no downloaded model)


def grabcut_mask(rgb: np.ndarray, iterations: int = 3) -> np.ndarray:
    """rgb [H, W, 3] uint8 photo of one object on a plain-ish background -> mask [H, W] uint8 (255 = object).

    The background is learnt from the image frame and predicted inwards (see `_deviation`), so a gradient, or a
    wall above a table, is background everywhere. GrabCut then segments the deviation from that prediction
    rather than the raw colours: an object part that has the colour of some background elsewhere (a white vase
    in front of a blue wall, above a white table) still stands out from the background right behind it.
    Raises InputError when nothing stands out.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    lab = _lab(small)  # [h, w, 3] float32
    frame_bg, noise = _frame_background(lab, _frame(small.shape[:2]))  # [h, w] bool, Delta-E
    deviation = _deviation(lab, frame_bg)  # [h, w, 3]: colour minus the background expected there
    dist = np.linalg.norm(deviation, axis=-1)  # [h, w]
    stands_out = dist > max(3 * noise, MIN_COLOUR_STEP)
    if not stands_out.any():
        raise InputError(
            "no object found: nothing in the picture stands out from the colours along its edges "
            "(leave some background around the object, or give an RGBA cut-out)"
        )
    labels = np.where(stands_out, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[frame_bg] = cv2.GC_BGD
    feature = np.clip(128 + DEVIATION_GAIN * deviation, 0, 255).astype(np.uint8)  # GrabCut wants 8-bit 3-channel
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # its GMM init runs k-means: fixed, so the same picture always gives the same mask
    cv2.grabCut(feature, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = _clean((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), stands_out)
    mask = fg.astype(np.uint8) * 255
    if scale < 1:  # linear upsampling keeps a one-pixel soft edge, as an anti-aliased cut-out has
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return mask


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _border(shape: tuple[int, int]) -> int:
    return max(2, round(BORDER_FRAC * min(shape)))


def _frame(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    b = _border(shape)
    frame = np.ones((h, w), bool)
    frame[b:-b, b:-b] = False
    return frame


def _frame_background(lab: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame pixels that are background ([h, w] bool) and the background's colour noise (Delta-E).

    The frame's colours are clustered; a cluster that covers little of the frame and differs from the big ones
    is the object touching the image edge (a leaf, a cropped handle), so it is not taken as background.
    """
    samples = lab[frame].astype(np.float32)  # [F, 3]
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.1)
    _, assign, centres = cv2.kmeans(samples, FRAME_CLUSTERS, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    assign = assign.ravel()  # [F]
    share = np.bincount(assign, minlength=FRAME_CLUSTERS) / assign.size  # [K]
    major = share >= MINOR_CLUSTER_SHARE
    residual = np.linalg.norm(samples - centres[assign], axis=-1)  # [F]
    noise = float(np.percentile(residual[major[assign]], 95))
    to_major = np.linalg.norm(centres[:, None] - centres[None, major], axis=-1).min(-1)  # [K]
    background = major | (to_major <= max(3 * noise, MIN_COLOUR_STEP))  # a small cluster of a big one's colour
    frame_bg = np.zeros_like(frame)
    frame_bg[frame] = background[assign]
    return frame_bg, noise


def _deviation(lab: np.ndarray, frame_bg: np.ndarray) -> np.ndarray:
    """lab [h, w, 3] -> lab minus the background colour expected at each pixel [h, w, 3].

    Several explanations of the background, each from the frame: a smooth fill inwards (vignette, diagonal
    gradient), and across every row whose left and right ends agree (a horizontal table edge, a vertical
    gradient), and down every column whose top and bottom agree. Each pixel is compared with the explanation
    that fits it best, so only what none explains stands out. A row or column whose ends differ is no
    evidence: a wall above a table would otherwise predict a wall-to-table blend behind the object.
    """
    deviations = [lab - _fill_from(lab, frame_bg)]
    b = _border(frame_bg.shape)
    for axis in (0, 1):  # 0: rows from the left and right strips; 1: columns from the top and bottom strips
        lab_t, known_t = (lab, frame_bg) if axis == 0 else (lab.transpose(1, 0, 2), frame_bg.T)
        start, end = _strip_profile(lab_t[:, :b], known_t[:, :b]), _strip_profile(lab_t[:, -b:], known_t[:, -b:])
        if start is None and end is None:
            continue
        start, end = (start if start is not None else end), (end if end is not None else start)
        t = np.linspace(0.0, 1.0, lab_t.shape[1], dtype=np.float32)[None, :, None]  # [1, n, 1]
        dev = lab_t - (start[:, None] * (1 - t) + end[:, None] * t)  # [m, n, 3]
        agree = np.linalg.norm(start - end, axis=-1) <= 2 * MIN_COLOUR_STEP  # [m]
        dev[~agree] = np.inf  # never the best fit
        deviations.append(dev if axis == 0 else dev.transpose(1, 0, 2))
        if axis == 0:  # rows whose ends differ: a step somewhere along the row (the seam of a table top)
            for colour in (start, end):
                step = lab - colour[:, None]
                step[agree] = np.inf
                deviations.append(step)
    deviations = np.stack(deviations)  # [F, h, w, 3]
    best = np.linalg.norm(deviations, axis=-1).argmin(0)  # [h, w]
    return np.take_along_axis(deviations, best[None, ..., None], 0)[0]


def _strip_profile(strip: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """strip [m, b, 3], known [m, b] -> mean background colour along the strip [m, 3], gaps interpolated."""
    count = known.sum(1)  # [m]
    rows = np.flatnonzero(count)
    if rows.size == 0:
        return None
    mean = (strip * known[..., None]).sum(1)[rows] / count[rows, None]  # [r, 3]
    at = np.arange(strip.shape[0])
    return np.stack([np.interp(at, rows, mean[:, c]) for c in range(3)], -1).astype(np.float32)


def _fill_from(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """values [h, w, C] known where `known` [h, w] -> a smooth field [h, w, C] that keeps the known values.

    Push-pull: average the known values down an image pyramid, then fill each level's gaps from the level below.
    """
    weight = known.astype(np.float32)
    levels = [(values.astype(np.float32) * weight[..., None], weight)]  # premultiplied values, weights
    while max(levels[-1][1].shape) > 2:
        v, wt = levels[-1]
        half = ((wt.shape[1] + 1) // 2, (wt.shape[0] + 1) // 2)
        levels.append(
            (cv2.resize(v, half, interpolation=cv2.INTER_AREA), cv2.resize(wt, half, interpolation=cv2.INTER_AREA))
        )
    v, wt = levels[-1]
    field = v.reshape(-1, v.shape[-1]).sum(0) / max(float(wt.sum()), 1e-6) * np.ones_like(v)  # coarsest: one mean
    for v, wt in reversed(levels):
        up = cv2.resize(field, (wt.shape[1], wt.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(v.shape)
        own = v / np.maximum(wt, 1e-6)[..., None]
        a = np.clip(wt, 0, 1)[..., None]  # share of known pixels under this cell
        field = a * own + (1 - a) * up
    return field


def _clean(fg: np.ndarray, stands_out: np.ndarray) -> np.ndarray:
    """Drop specks (bubbles, dust) and fill small holes (highlights) or holes that do not look like background.

    fg, stands_out: [h, w] bool. A hole that is large and has the background's colour (a teapot handle) stays.
    """
    n, comp, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 1:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= KEEP_COMPONENT_SHARE * areas.max()) + 1
    fg = np.isin(comp, keep)
    n, holes, stats, _ = cv2.connectedComponentsWithStats((~fg).astype(np.uint8), connectivity=4)
    area = stats[:, cv2.CC_STAT_AREA]
    odd = np.bincount(holes.ravel(), weights=stands_out.ravel(), minlength=n) / np.maximum(area, 1)
    fill = (area < SMALL_HOLE_SHARE * fg.sum()) | (odd > 0.5)
    fill[np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))] = False  # reaches the edge
    fill[0] = False  # label 0 is the object itself
    return fg | fill[holes]


# ---------------------------------------------------------------------------------------------------------------
# rembg (optional, never downloads)


def rembg_model_path() -> Path | None:
    """The u2net model file if rembg has already downloaded it, else None.

    Looked for where rembg puts it: $U2NET_HOME when set, else ~/.u2net ($XDG_DATA_HOME/.u2net), and in newer
    releases <$REMBG_HOME or ~/.rembg>/models/u2net.
    """
    for folder in _rembg_homes():
        candidate = folder / REMBG_MODEL
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def _rembg_homes() -> list[Path]:
    """Folders where rembg keeps u2net.onnx: the old flat layout, then the newer <root>/models/u2net."""
    env = os.environ.get
    if env("U2NET_HOME"):
        root = Path(env("U2NET_HOME")).expanduser()
        return [root, root / "models" / "u2net"]
    xdg = env("XDG_DATA_HOME")
    legacy = [Path(xdg).expanduser() / ".u2net"] if xdg else []
    root = Path(env("REMBG_HOME") or (Path(xdg) / "rembg" if xdg else "~/.rembg")).expanduser()
    return list(dict.fromkeys([*legacy, Path("~/.u2net").expanduser(), root / "models" / "u2net"]))


def _rembg_installed() -> bool:
    return importlib.util.find_spec("rembg") is not None


def rembg_mask(rgb: np.ndarray) -> np.ndarray:
    """rgb [H, W, 3] uint8 -> mask [H, W] uint8 from rembg's u2net, loaded from disk only."""
    if not _rembg_installed():
        raise ConfigError("--rembg needs the rembg package (pip install rembg), which is not installed")
    model = rembg_model_path()
    if model is None:
        where = " or ".join(str(p / REMBG_MODEL) for p in _rembg_homes())
        raise ConfigError(
            f"--rembg: model file not found at {where}; latentgen never downloads it, "
            "fetch it once (e.g. `rembg i in.png out.png`) or set U2NET_HOME"
        )
    try:
        import rembg  # optional dependency, imported only when asked for

        # "u2net_custom" loads the given file as is: the named sessions would try to download or re-verify it
        session = rembg.new_session("u2net_custom", model_path=str(model))
    except ImportError as e:
        raise ConfigError(f"--rembg: rembg is installed but does not import ({_short(e)})") from e
    except ValueError as e:  # releases before the custom session know only downloadable model names
        raise ConfigError(
            f"--rembg: this rembg cannot load a local model file; pip install -U rembg ({_short(e)})"
        ) from e
    out = rembg.remove(Image.fromarray(rgb, "RGB"), session=session, only_mask=True)
    mask = np.asarray(out.convert("L") if isinstance(out, Image.Image) else out, dtype=np.uint8)
    if mask.shape != rgb.shape[:2]:
        raise StageError(f"rembg returned a {mask.shape} mask for a {rgb.shape[:2]} picture")
    return mask


# ---------------------------------------------------------------------------------------------------------------
# Recentring, as the reference ImageProcessorV2


def recenter(rgba: np.ndarray, size: int = 512, border_ratio: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """rgba [H, W, 4] uint8 (alpha = foreground mask) -> (rgb [size, size, 3], mask [size, size]) uint8.

    Bit-exact with the reference: crop to the bounding box of nonzero alpha (its last row and column
    excluded), scale the longer side to int(side * (1 - border_ratio)) with INTER_AREA on a square canvas
    of side max(H, W), composite over white in float32 and truncate, then resize to `size` (image bicubic,
    mask nearest).
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[-1] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected RGBA uint8 [H, W, 4], got {rgba.dtype} {rgba.shape}")
    if not 0 <= border_ratio < 1:
        raise OptionError(f"border_ratio={border_ratio}: must be in [0, 1)")
    h_in, w_in = rgba.shape[:2]
    side = max(h_in, w_in)
    rows, cols = np.nonzero(rgba[..., 3])
    if rows.size == 0:
        raise InputError("image is fully transparent, there is no object to model")
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    h, w = r1 - r0, c1 - c0
    if min(h, w) == 0:
        raise InputError(f"the object is a single line of pixels ({h + 1}x{w + 1}), too thin to model")
    scale = int(side * (1 - border_ratio)) / max(h, w)
    h2, w2 = int(h * scale), int(w * scale)
    if min(h2, w2) == 0:
        raise InputError(f"the object is too thin to model ({h}x{w} px)")
    top, left = (side - h2) // 2, (side - w2) // 2
    canvas = np.zeros((side, side, 4), np.uint8)  # [side, side, 4]
    canvas[top : top + h2, left : left + w2] = cv2.resize(rgba[r0:r1, c0:c1], (w2, h2), interpolation=cv2.INTER_AREA)
    alpha = canvas[..., 3:].astype(np.float32) / 255  # [side, side, 1]
    rgb = (canvas[..., :3] * alpha + np.float32(255) * (1 - alpha)).clip(0, 255).astype(np.uint8)
    mask = (alpha[..., 0] * 255).clip(0, 255).astype(np.uint8)
    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return rgb, mask


def to_model_tensor(rgb: np.ndarray) -> torch.Tensor:
    """rgb [S, S, 3] uint8 -> [1, 3, S, S] float32 in [-1, 1] (same operation order as the reference)."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)).float() / 255 * 2 - 1  # [S, S, 3]; a copy: rgb may be read-only
    return t.permute(2, 0, 1).unsqueeze(0).contiguous()


# ---------------------------------------------------------------------------------------------------------------
# Entry point


def prepare_image(
    image: Path | str | Image.Image,
    method: str = "auto",
    size: int = 512,
    border_ratio: float = 0.15,
    source: Path | None = None,
) -> PreparedImage:
    """A file or PIL image -> PreparedImage (object recentred on white, mask, model tensor).

    source: the file a PIL image was read from (load_image), so a picture checked early is not read twice and
    errors still name it. Errors about the picture raise InputError naming the file.
    """
    if isinstance(image, Image.Image):
        name = str(source) if source is not None else "image"
        rgba = to_rgba(image)
        _check_size(rgba.size, name)
    else:
        source = Path(image)
        name = str(source)
        rgba = load_image(source)
    arr = np.asarray(rgba)  # [H, W, 4]
    try:
        mask, used = _foreground(arr, method)
        rgb, mask_out = recenter(np.dstack([arr[..., :3], mask]), size, border_ratio)
    except ConfigError:
        raise
    except InputError as e:
        raise InputError(f"{name}: {e}") from e
    return PreparedImage(rgb, mask_out, to_model_tensor(rgb), source, used, mask)
