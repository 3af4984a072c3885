"""Procedural everyday objects with exact signed distances and per-part colours.

`make_shape(family, seed)` builds one `Shape`, deterministic in (family, seed). A shape is a union of coloured
parts (and colour-only "paint" regions such as labels, windows and spots) whose analytic SDFs come from
`latentgen.data.sdf`. Families are authored in metres, glTF axes (+Y up, the object's front facing +Z, resting on
y = 0), then normalised: the bounding box is centred at the origin and its longest side scaled to 2 * 0.9, so every
shape lies in [-0.9, 0.9]^3.
"""

from __future__ import annotations

import colorsys
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from .sdf import (
    SDF,
    Box,
    Capsule,
    Cone,
    Cylinder,
    Ellipsoid,
    Extrude,
    HalfSpace,
    Intersection,
    Revolve,
    RoundBox,
    SmoothUnion,
    Sphere,
    Torus,
    Union,
    _rotated_box,
    rotation,
)
from .sdf_jit import compile_sdf

Color = tuple[float, float, float]  # sRGB in [0, 1]
EXTENT = 0.9  # normalised shapes lie in [-EXTENT, EXTENT]^3, longest side touching


@dataclass(frozen=True)
class Part:
    """One coloured piece of a shape.

    sdf: the part's solid (in the family's authoring units). color: one colour, or one per child when `sdf` is a
    Union (e.g. a row of books). paint=True: not geometry but a colour region, applied where it contains the surface
    of the other parts (labels, windows, spots); later paint wins.
    """

    name: str
    sdf: SDF
    color: Color | Sequence[Color]
    paint: bool = False

    def __post_init__(self) -> None:
        col = np.asarray(self.color, np.float32)
        if col.ndim == 2 and not (isinstance(self.sdf, Union) and len(self.sdf.children) == len(col)):
            raise ValueError(f"part {self.name!r}: one colour per child needs a Union with {len(col)} children")


class Shape:
    """A normalised procedural object: `sdf(xyz [N, 3]) -> [N]` (negative inside), `color(xyz) -> [N, 3]`.

    rotation: optional 3x3 rotation of the authored object (about its own axes) applied before normalisation, for
    datasets that pose objects away from the canonical front view; labels and images then share that pose.
    """

    def __init__(
        self, family: str, seed: int, parts: Sequence[Part], extent: float = EXTENT, rotation: np.ndarray | None = None
    ):
        self.family, self.seed = family, int(seed)
        self.parts = tuple(p for p in parts if not p.paint)
        self.paints = tuple(p for p in parts if p.paint)
        if not self.parts:
            raise ValueError(f"{family}: a shape needs at least one solid part")
        self.rotation = np.eye(3) if rotation is None else np.asarray(rotation, np.float64)
        self._root = Union(*(p.sdf for p in self.parts), flatten=False)
        self._fast = compile_sdf(self._root, track=True)
        # colour lookups: per-child colours need the part's own argmin, paint regions their inside test
        self._fast_parts = [compile_sdf(p.sdf) if np.ndim(p.color) == 2 else None for p in self.parts]
        self._fast_paints = [compile_sdf(p.sdf) for p in self.paints]
        # box of the posed object: union of the rotated part boxes (tighter than rotating the whole box)
        boxes = [_rotated_box(p.sdf.lo, p.sdf.hi, self.rotation) for p in self.parts]
        lo, hi = np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError(f"{family}: unbounded part")
        self.center = (lo + hi) / 2  # posed authoring units
        self.scale = 2 * extent / float((hi - lo).max())  # world = scale * (rotation @ local - center)
        self.lo, self.hi = self.scale * (lo - self.center), self.scale * (hi - self.center)

    @property
    def name(self) -> str:
        return f"{self.family}_{self.seed:06d}"

    def _local(self, xyz: np.ndarray) -> np.ndarray:
        """World points -> authoring units: rotation^T (xyz / scale + center), in row form."""
        return (np.asarray(xyz, dtype=np.float64).reshape(-1, 3) / self.scale + self.center) @ self.rotation

    def sdf(self, xyz: np.ndarray) -> np.ndarray:
        """xyz [N, 3] world -> signed distance [N] float64 in world units (see sdf.py for exactness)."""
        return self.scale * self._fast(self._local(xyz))

    def sdf_reference(self, xyz: np.ndarray) -> np.ndarray:
        """The same field through the plain numpy tree (slow; the compiled `sdf` is checked against it)."""
        return self.scale * self._root(self._local(xyz))

    def part_index(self, xyz: np.ndarray) -> np.ndarray:
        """[N] index into `parts` of the solid part nearest each point (the part whose surface it is on)."""
        return self._fast.evaluate(self._local(xyz))[1]

    def color(self, xyz: np.ndarray) -> np.ndarray:
        """xyz [N, 3] (meant: on or near the surface) -> sRGB colours [N, 3] float32 in [0, 1]."""
        local = self._local(xyz)
        part = self._fast.evaluate(local)[1]
        out = np.zeros((len(local), 3), np.float32)
        for k, p in enumerate(self.parts):
            sel = np.nonzero(part == k)[0]
            if len(sel):
                out[sel] = self._colors(p, self._fast_parts[k], local[sel])
        for p, fast in zip(self.paints, self._fast_paints, strict=True):
            inside = fast(local) < 0
            if inside.any():
                out[inside] = self._colors(p, fast, local[inside])
        return out

    def palette(self) -> np.ndarray:
        """[K, 3] float32: the distinct colours of all parts and paints."""
        cols = [np.asarray(p.color, np.float32).reshape(-1, 3) for p in self.parts + self.paints]
        return np.unique(np.concatenate(cols), axis=0)

    @staticmethod
    def _colors(part: Part, fast, local: np.ndarray) -> np.ndarray:
        col = np.asarray(part.color, np.float32)
        if col.ndim == 1:
            return np.broadcast_to(col, (len(local), 3))
        return col[fast.evaluate(local)[1]]  # one colour per child of the part's Union


# ----------------------------------------------------------------------------------------------------------------
# Colours


def _hsv(h: float, s: float, v: float) -> Color:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def wood(rng) -> Color:
    return _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.8))


def metal(rng) -> Color:
    return _hsv(rng.uniform(0.5, 0.65), rng.uniform(0.0, 0.08), rng.uniform(0.5, 0.85))


def dark(rng) -> Color:
    return _hsv(rng.uniform(0, 1), rng.uniform(0, 0.3), rng.uniform(0.08, 0.22))


def vivid(rng) -> Color:
    return _hsv(rng.uniform(0, 1), rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.95))


def pastel(rng) -> Color:
    return _hsv(rng.uniform(0, 1), rng.uniform(0.15, 0.4), rng.uniform(0.82, 0.97))


def fabric(rng) -> Color:
    return _hsv(rng.uniform(0, 1), rng.uniform(0.15, 0.6), rng.uniform(0.3, 0.8))


def white(rng) -> Color:
    return _hsv(rng.uniform(0, 1), rng.uniform(0, 0.05), rng.uniform(0.88, 0.98))


def any_of(rng, *makers: Callable) -> Color:
    return makers[rng.integers(len(makers))](rng)


# ----------------------------------------------------------------------------------------------------------------
# Geometry helpers (authoring units; y up, front +z)


def box_at(lo, hi, r: float = 0.0) -> SDF:
    """Box spanning the corners lo..hi, edges rounded by r."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    half = (hi - lo) / 2
    return RoundBox(half, min(r, 0.45 * half.min()), (lo + hi) / 2)


def y_cylinder(x: float, y0: float, y1: float, z: float, r: float) -> SDF:
    return Cylinder((x, y0, z), (x, y1, z), r)


def rounded_cylinder(a, b, r: float, edge: float) -> SDF:
    """Cylinder a-b of radius r whose rims are rounded by `edge` (outer size unchanged)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    u = (b - a) / np.linalg.norm(b - a)
    edge = min(edge, 0.45 * r, 0.45 * np.linalg.norm(b - a))
    return Cylinder(a + edge * u, b - edge * u, r - edge).round(edge)


def pivot(sdf: SDF, matrix: np.ndarray, about) -> SDF:
    """Rotate `sdf` by `matrix` about the point `about`."""
    about = np.asarray(about, float)
    return sdf.translate(-about).rotate(matrix).translate(about)


def smooth_profile(rng, heights: Sequence[float], radii: Sequence[float], n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Shape-preserving spline through (height, radius) control points -> n samples (ys, rs)."""
    f = PchipInterpolator(np.asarray(heights, float), np.asarray(radii, float))
    ys = np.linspace(heights[0], heights[-1], n)
    return ys, np.maximum(f(ys), 1e-4)


def vessel(ys: np.ndarray, rs: np.ndarray, wall: float, floor: float) -> Revolve:
    """Open-topped vessel: outer surface r = rs(y) from y = ys[0] (the base) to the rim, wall thickness `wall`
    measured horizontally, solid floor up to `floor`."""
    outer = [(0.0, ys[0])] + list(zip(rs, ys, strict=True))
    r_floor = float(np.interp(floor, ys, rs)) - wall
    inner = [(max(r - wall, 1e-3), y) for r, y in zip(rs[::-1], ys[::-1], strict=True) if y > floor]
    return Revolve(outer + inner + [(max(r_floor, 1e-3), floor), (0.0, floor)])


def solid_of_revolution(ys: np.ndarray, rs: np.ndarray) -> Revolve:
    return Revolve([(0.0, ys[0])] + list(zip(rs, ys, strict=True)) + [(0.0, ys[-1])])


def arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int) -> list[tuple[float, float]]:
    """n points on a circle arc from angle a0 to a1 (degrees)."""
    t = np.radians(np.linspace(a0, a1, n))
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in t]


def band(y0: float, y1: float, radius: float = 10.0) -> SDF:
    """Paint region: a horizontal slab y0..y1 (colours whatever surface passes through it)."""
    return Box((radius, (y1 - y0) / 2, radius), (0, (y0 + y1) / 2, 0))


def uniform(rng, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def choice(rng, options: Sequence):
    return options[int(rng.integers(len(options)))]


# ----------------------------------------------------------------------------------------------------------------
# Furniture


def chair(rng) -> list[Part]:
    W, D, H = uniform(rng, 0.40, 0.56), uniform(rng, 0.38, 0.52), uniform(rng, 0.40, 0.50)
    t, lt = uniform(rng, 0.035, 0.06), uniform(rng, 0.03, 0.05)  # seat thickness, leg thickness
    back_h = uniform(rng, 0.35, 0.6)
    frame = any_of(rng, wood, wood, metal, vivid, dark)
    seat_col = frame if rng.random() < 0.5 else fabric(rng)
    parts = [Part("seat", box_at((-W / 2, H - t, -D / 2), (W / 2, H, D / 2), min(0.015, t / 3)), seat_col)]
    inset = uniform(rng, 0.0, 0.03)
    x0, z0 = W / 2 - lt / 2 - inset, D / 2 - lt / 2 - inset
    round_legs = rng.random() < 0.5

    def leg(x, z, y1, splay=0.0):
        if round_legs:
            return Cylinder((x + splay, 0, z + np.sign(z) * splay), (x, y1, z), lt / 2)
        return box_at((x - lt / 2, 0, z - lt / 2), (x + lt / 2, y1, z + lt / 2))

    style = choice(rng, ["panel", "slats", "ladder", "spindles"])
    if style == "panel":
        parts.append(Part("legs", leg(x0, z0, H - t, uniform(rng, 0, 0.04) * round_legs).mirror("xz"), frame))
        bt = uniform(rng, 0.03, 0.05)
        panel = box_at((-W / 2 + uniform(rng, 0, 0.04), 0, -bt / 2), (W / 2 - 0.0, back_h, bt / 2), bt / 3)
        tilt = rotation("x", -uniform(rng, 0, 12))
        panel = pivot(panel.translate((0, H - t / 2, -D / 2 + bt / 2)), tilt, (0, H, -D / 2))
        parts.append(Part("back", panel, seat_col if rng.random() < 0.5 else frame))
    else:
        top = H + back_h
        parts.append(Part("front legs", leg(x0, z0, H - t).mirror("x"), frame))
        parts.append(Part("back posts", leg(x0, -z0, top).mirror("x"), frame))
        rail_h = uniform(rng, 0.04, 0.09)
        zb = -z0
        rails = [box_at((-x0, top - rail_h, zb - lt / 3), (x0, top - 0.005, zb + lt / 3))]
        if style == "slats":
            n = int(rng.integers(2, 6))
            sw = uniform(rng, 0.03, 0.06)
            for x in np.linspace(-x0, x0, n + 2)[1:-1]:
                rails.append(box_at((x - sw / 2, H, zb - lt / 4), (x + sw / 2, top - rail_h, zb + lt / 4)))
        elif style == "ladder":
            n = int(rng.integers(1, 4))
            for y in np.linspace(H, top - rail_h, n + 2)[1:-1]:
                rails.append(box_at((-x0, y - 0.02, zb - lt / 3), (x0, y + 0.02, zb + lt / 3)))
        else:
            n = int(rng.integers(3, 7))
            for x in np.linspace(-x0, x0, n + 2)[1:-1]:
                rails.append(y_cylinder(x, H - 0.01, top - rail_h + 0.01, zb, 0.012))
        parts.append(Part("backrest", Union(*rails), frame))
        if rng.random() < 0.35:  # armrests on front supports
            ay = H + uniform(rng, 0.18, 0.25)
            arm = box_at((x0 - 0.03, ay - 0.025, -z0), (x0 + 0.03, ay, z0 + 0.03), 0.01)
            support = y_cylinder(x0, H - 0.01, ay - 0.01, z0 - 0.02, 0.015)
            parts.append(Part("arms", Union(arm, support).mirror("x"), frame))
    return parts


def table(rng) -> list[Part]:
    kind = choice(rng, ["dining", "dining", "round", "coffee", "desk"])
    top_col = any_of(rng, wood, wood, white, dark)
    leg_col = top_col if rng.random() < 0.6 else any_of(rng, metal, dark)
    t = uniform(rng, 0.03, 0.06)
    if kind == "round":
        R, H = uniform(rng, 0.35, 0.6), uniform(rng, 0.68, 0.76)
        parts = [Part("top", rounded_cylinder((0, H - t, 0), (0, H, 0), R, t / 3), top_col)]
        cr = uniform(rng, 0.035, 0.07)
        parts.append(Part("column", y_cylinder(0, 0.03, H - t, 0, cr), leg_col))
        if rng.random() < 0.5:
            parts.append(Part("base", rounded_cylinder((0, 0, 0), (0, 0.04, 0), uniform(rng, 0.2, 0.3), 0.01), leg_col))
        else:
            n, L = int(rng.integers(3, 5)), uniform(rng, 0.22, 0.32)
            foot = box_at((0, 0, -0.025), (L, 0.05, 0.025), 0.01)
            feet = [foot.rotate(rotation("y", 360 * k / n + 90)) for k in range(n)]
            parts.append(Part("feet", Union(*feet), leg_col))
        return parts
    W = uniform(rng, 0.8, 1.6) if kind != "desk" else uniform(rng, 1.0, 1.5)
    D = W * uniform(rng, 0.45, 0.75)
    H = uniform(rng, 0.38, 0.48) if kind == "coffee" else uniform(rng, 0.7, 0.78)
    parts = [Part("top", box_at((-W / 2, H - t, -D / 2), (W / 2, H, D / 2), min(t / 3, 0.015)), top_col)]
    lt, inset = uniform(rng, 0.04, 0.08), uniform(rng, 0.0, 0.06)
    x0, z0 = W / 2 - lt / 2 - inset, D / 2 - lt / 2 - inset
    if rng.random() < 0.5:
        leg = y_cylinder(x0, 0, H - t, z0, lt / 2)
    else:
        leg = box_at((x0 - lt / 2, 0, z0 - lt / 2), (x0 + lt / 2, H - t, z0 + lt / 2))
    parts.append(Part("legs", leg.mirror("xz"), leg_col))
    if kind != "coffee" and rng.random() < 0.6:
        ah = uniform(rng, 0.06, 0.12)
        front = box_at((-x0, H - t - ah, z0 - 0.01), (x0, H - t, z0 + 0.01)).mirror("z")
        side = box_at((x0 - 0.01, H - t - ah, -z0), (x0 + 0.01, H - t, z0)).mirror("x")
        parts.append(Part("apron", Union(front, side), leg_col))
    if kind == "coffee" and rng.random() < 0.6:
        parts.append(Part("shelf", box_at((-x0, 0.08, -z0), (x0, 0.08 + t * 0.8, z0)), top_col))
    if kind == "desk":  # drawer block on one side
        bw = W * uniform(rng, 0.25, 0.35)
        block = box_at((W / 2 - bw - inset, 0.02, -D / 2 + inset), (W / 2 - inset, H - t, D / 2 - inset))
        parts.append(Part("drawers", block, top_col))
        n = int(rng.integers(2, 4))
        pulls = []
        for k in range(n):
            y = (H - t) * (k + 0.5) / n
            cx = W / 2 - inset - bw / 2
            pulls.append(box_at((cx - 0.05, y - 0.01, D / 2 - inset), (cx + 0.05, y + 0.01, D / 2 - inset + 0.025)))
        parts.append(Part("pulls", Union(*pulls), metal(rng)))
    return parts


def stool(rng) -> list[Part]:
    R, H = uniform(rng, 0.14, 0.21), uniform(rng, 0.42, 0.8)
    t = uniform(rng, 0.03, 0.06)
    seat_col, leg_col = any_of(rng, wood, vivid, fabric, dark), any_of(rng, wood, metal, dark)
    if rng.random() < 0.7:
        seat = rounded_cylinder((0, H - t, 0), (0, H, 0), R, t / 3)
    else:
        seat = box_at((-R, H - t, -R), (R, H, R), t / 3)
    parts = [Part("seat", seat, seat_col)]
    n = int(rng.integers(3, 5))
    rt, rb, lr = R * uniform(rng, 0.55, 0.75), R * uniform(rng, 0.95, 1.25), uniform(rng, 0.015, 0.025)
    phase = 90 if n == 3 else 45
    legs = []
    for k in range(n):
        a = math.radians(phase + 360 * k / n)
        c, s = math.cos(a), math.sin(a)
        legs.append(Cylinder((rb * c, 0, rb * s), (rt * c, H - t + 0.005, rt * s), lr))
    parts.append(Part("legs", Union(*legs), leg_col))
    if H > 0.55:  # foot ring at 30 % height: radius follows the splayed legs there
        yr = 0.3 * H
        ring_r = rb + (rt - rb) * yr / (H - t)
        parts.append(Part("foot ring", Torus(ring_r, 0.011).translate((0, yr, 0)), leg_col))
    return parts


def shelf(rng) -> list[Part]:
    W, Hs, D = uniform(rng, 0.6, 1.2), uniform(rng, 0.8, 1.9), uniform(rng, 0.25, 0.38)
    th = max(0.025, 0.02 * max(W, Hs))
    col = any_of(rng, wood, wood, white, dark, vivid)
    n = max(2, int(round(Hs / uniform(rng, 0.3, 0.42))))
    boards = [
        box_at((-W / 2, 0, -D / 2), (-W / 2 + th, Hs, D / 2)),
        box_at((W / 2 - th, 0, -D / 2), (W / 2, Hs, D / 2)),
        box_at((-W / 2, Hs - th, -D / 2), (W / 2, Hs, D / 2)),
        box_at((-W / 2, 0, -D / 2), (W / 2, th + 0.04, D / 2)),  # bottom board on a plinth
    ]
    levels = np.linspace(th + 0.04, Hs - th, n + 1)
    for y in levels[1:-1]:
        boards.append(box_at((-W / 2, y - th / 2, -D / 2), (W / 2, y + th / 2, D / 2)))
    if rng.random() < 0.7:
        boards.append(box_at((-W / 2, 0, -D / 2), (W / 2, Hs, -D / 2 + 0.015 + 0.01 * Hs)))
    parts = [Part("frame", Union(*boards), col)]
    for row in range(n):
        if rng.random() < 0.25:
            continue
        y0 = levels[row] + (th / 2 if row else 0.0)
        gap = levels[row + 1] - th / 2 - y0
        books, colors = [], []
        x = -W / 2 + th + uniform(rng, 0, 0.15) * W
        x_end = W / 2 - th - uniform(rng, 0, 0.3) * W
        while True:
            w = uniform(rng, 0.025, 0.06) * max(1.0, Hs / 1.2)
            if x + w > x_end:
                break
            h, d = gap * uniform(rng, 0.6, 0.9), D * uniform(rng, 0.65, 0.9)
            books.append(box_at((x, y0, -D / 2 + 0.03), (x + w, y0 + h, -D / 2 + 0.03 + d), 0.004))
            colors.append(any_of(rng, vivid, dark, fabric, pastel))
            x += w + (uniform(rng, 0.05, 0.12) if rng.random() < 0.12 else 0.0)
        if books:
            parts.append(Part(f"books {row}", Union(*books), colors))
    return parts


def sofa(rng) -> list[Part]:
    W, D = uniform(rng, 1.4, 2.2), uniform(rng, 0.8, 1.0)
    seat_h, back_h, arm_w = uniform(rng, 0.38, 0.48), uniform(rng, 0.75, 0.95), uniform(rng, 0.12, 0.25)
    col = fabric(rng)
    cushion_col = col if rng.random() < 0.6 else fabric(rng)
    base_y = uniform(rng, 0.08, 0.15)
    parts = [
        Part("base", box_at((-W / 2, base_y, -D / 2), (W / 2, seat_h - 0.1, D / 2), 0.04), col),
        Part("back", box_at((-W / 2, base_y, -D / 2), (W / 2, back_h, -D / 2 + 0.22), 0.08), col),
    ]
    arm_h = seat_h + uniform(rng, 0.12, 0.25)
    arm = box_at((W / 2 - arm_w, base_y, -D / 2), (W / 2, arm_h, D / 2), 0.06)
    parts.append(Part("arms", arm.mirror("x"), col))
    n = int(rng.integers(1, 4))
    inner = W - 2 * arm_w
    cushions = [
        box_at(
            (-inner / 2 + k * inner / n + 0.01, seat_h - 0.12, -D / 2 + 0.2),
            (-inner / 2 + (k + 1) * inner / n - 0.01, seat_h, D / 2 - 0.02),
            0.05,
        )
        for k in range(n)
    ]
    parts.append(Part("cushions", Union(*cushions), cushion_col))
    leg = y_cylinder(W / 2 - 0.08, 0, base_y + 0.02, D / 2 - 0.08, uniform(rng, 0.025, 0.04))
    parts.append(Part("legs", leg.mirror("xz"), any_of(rng, wood, dark, metal)))
    return parts


# ----------------------------------------------------------------------------------------------------------------
# Vessels and tableware (revolved profiles)


def _handle(rng, x_wall: float, y_mid: float, height: float, wall: float) -> SDF:
    """Mug handle on the +x side: a ring or a D shape, cut where it would enter the vessel's cavity."""
    tube = uniform(rng, 0.006, 0.009)
    if rng.random() < 0.6:
        major = height / 2 - tube
        ring = (
            Torus(major, tube).rotate(rotation("x", 90)).translate((x_wall + major * uniform(rng, 0.3, 0.6), y_mid, 0))
        )
    else:
        reach = uniform(rng, 0.025, 0.035)
        top, bot = y_mid + height / 2 - tube, y_mid - height / 2 + tube
        ring = Union(
            Capsule((x_wall - wall, top, 0), (x_wall + reach, top, 0), tube),
            Capsule((x_wall + reach, top, 0), (x_wall + reach, bot, 0), tube),
            Capsule((x_wall + reach, bot, 0), (x_wall - wall, bot, 0), tube),
        )
    return Intersection(ring, HalfSpace((-1, 0, 0), -(x_wall - wall / 2)))


def mug(rng) -> list[Part]:
    R, H, w = uniform(rng, 0.038, 0.052), uniform(rng, 0.08, 0.12), uniform(rng, 0.005, 0.007)
    taper = uniform(rng, -0.006, 0.004)  # top radius minus bottom radius
    ys = np.linspace(0, H, 6)
    rs = R + taper * ys / H
    rs[0] -= 0.003  # slightly rounded foot
    body = vessel(ys, rs, w, uniform(rng, 0.007, 0.012))
    col = any_of(rng, white, vivid, pastel, dark)
    parts = [Part("body", body, col)]
    hh = H * uniform(rng, 0.5, 0.72)
    handle = _handle(rng, R + taper * 0.5, H * 0.52, hh, w)
    parts.append(Part("handle", handle, col))
    if rng.random() < 0.4:
        y0 = uniform(rng, 0.25, 0.6) * H
        parts.append(Part("stripe", band(y0, y0 + uniform(rng, 0.1, 0.25) * H), vivid(rng), paint=True))
    return parts


def cup(rng) -> list[Part]:
    kind = choice(rng, ["teacup", "tumbler", "goblet"])
    col = any_of(rng, white, pastel, vivid)
    if kind == "goblet":
        H = uniform(rng, 0.15, 0.22)
        bowl_h, R = H * uniform(rng, 0.4, 0.55), uniform(rng, 0.035, 0.05)
        y0 = H - bowl_h
        ys = np.linspace(y0, H, 8)
        t = (ys - y0) / bowl_h
        rs = R * np.sin(np.radians(25 + 65 * np.sqrt(t))) / math.sin(math.radians(90))
        bowl = vessel(ys, rs, 0.004, y0 + 0.012)
        stem = Revolve([(0, 0), (R * 0.9, 0), (R * 0.9, 0.006), (0.006, 0.012), (0.006, y0 + 0.005), (0, y0 + 0.005)])
        glass = any_of(rng, pastel, white, vivid)
        return [Part("bowl", bowl, glass), Part("stem and foot", stem, glass)]
    if kind == "tumbler":
        H, R = uniform(rng, 0.09, 0.15), uniform(rng, 0.03, 0.045)
        ys = np.linspace(0, H, 5)
        rs = R * (0.8 + 0.2 * ys / H)
        parts = [Part("glass", vessel(ys, rs, 0.004, 0.012), col)]
        if rng.random() < 0.5:
            y0 = uniform(rng, 0.3, 0.6) * H
            parts.append(Part("print", band(y0, y0 + 0.2 * H), vivid(rng), paint=True))
        return parts
    H, R = uniform(rng, 0.055, 0.075), uniform(rng, 0.04, 0.055)
    y0 = 0.012
    ys = np.linspace(y0, y0 + H, 8)
    t = (ys - y0) / H
    rs = R * (0.55 + 0.45 * np.sqrt(t))
    parts = [Part("cup", vessel(ys, rs, 0.004, y0 + 0.008), col)]
    parts.append(Part("handle", _handle(rng, R * 0.85, y0 + H * 0.6, H * 0.55, 0.004), col))
    SR = R * uniform(rng, 1.45, 1.8)
    saucer = Revolve([(0, 0), (SR * 0.55, 0), (SR, 0.008), (SR, 0.012), (SR * 0.55, 0.007), (0, 0.007)])
    parts.append(Part("saucer", saucer, col if rng.random() < 0.7 else white(rng)))
    if rng.random() < 0.5:
        parts.append(Part("rim", band(y0 + H * 0.88, y0 + H + 0.01), vivid(rng), paint=True))
    return parts


def vase(rng) -> list[Part]:
    H = uniform(rng, 0.2, 0.45)
    Rm = H * uniform(rng, 0.18, 0.35)
    hs = [0, H * uniform(rng, 0.2, 0.45), H * uniform(rng, 0.6, 0.75), H * uniform(rng, 0.82, 0.9), H]
    rs = [
        Rm * uniform(rng, 0.5, 0.8),
        Rm,
        Rm * uniform(rng, 0.5, 0.9),
        Rm * uniform(rng, 0.3, 0.55),
        Rm * uniform(rng, 0.4, 0.75),
    ]
    ys, r = smooth_profile(rng, hs, rs, 14)
    body = vessel(ys, r, max(0.006, 0.025 * H), 0.02 * H + 0.005)
    col = any_of(rng, vivid, pastel, white, dark, wood)
    parts = [Part("body", body, col)]
    for _ in range(int(rng.integers(0, 3))):
        y0 = uniform(rng, 0.1, 0.8) * H
        parts.append(
            Part("band", band(y0, y0 + uniform(rng, 0.03, 0.1) * H), any_of(rng, vivid, white, dark), paint=True)
        )
    return parts


def bottle(rng) -> list[Part]:
    kind = choice(rng, ["wine", "soda", "jar", "flask"])
    if kind == "jar":
        H, R = uniform(rng, 0.1, 0.18), uniform(rng, 0.045, 0.07)
        nr, lid_h = R * uniform(rng, 0.8, 0.92), uniform(rng, 0.015, 0.03)
        body = Revolve([(0, 0), (R - 0.006, 0), (R, 0.006), (R, H * 0.85), (nr, H * 0.92), (nr, H), (0, H)])
        lid = rounded_cylinder((0, H - 0.004, 0), (0, H + lid_h, 0), nr + 0.004, 0.004)
        glass, lid_col = any_of(rng, pastel, vivid, white), any_of(rng, metal, vivid, dark)
        return [
            Part("jar", body, glass),
            Part("lid", lid, lid_col),
            Part("label", band(H * 0.25, H * 0.65), any_of(rng, white, vivid), paint=True),
        ]
    H = uniform(rng, 0.22, 0.34) if kind != "flask" else uniform(rng, 0.15, 0.22)
    R = H * uniform(rng, 0.12, 0.18)
    nr = R * uniform(rng, 0.28, 0.42)
    body_top = H * uniform(rng, 0.5, 0.7)
    neck_y = body_top + H * uniform(rng, 0.1, 0.2)
    hs = [0, 0.01, body_top, neck_y, H * 0.97]
    rs = [R * 0.93, R, R, nr, nr]
    if kind == "flask":
        rs = [R * 0.9, R * 1.15, R * 0.9, nr, nr]
    ys, r = smooth_profile(rng, hs, rs, 14)
    glass = {
        "wine": _hsv(rng.uniform(0.25, 0.4), 0.6, 0.3),
        "soda": any_of(rng, vivid, pastel),
        "flask": any_of(rng, metal, vivid, dark),
    }[kind]
    parts = [Part("bottle", solid_of_revolution(ys, r), glass)]
    cap_h = H * uniform(rng, 0.05, 0.09)
    parts.append(
        Part(
            "cap",
            rounded_cylinder((0, H * 0.97 - cap_h * 0.5, 0), (0, H * 0.97 + cap_h, 0), nr * 1.12, 0.002),
            any_of(rng, vivid, metal, dark, white),
        )
    )
    if rng.random() < 0.8:
        y0 = body_top * uniform(rng, 0.2, 0.4)
        parts.append(
            Part(
                "label", band(y0, y0 + body_top * uniform(rng, 0.3, 0.5)), any_of(rng, white, vivid, pastel), paint=True
            )
        )
    return parts


def bowl(rng) -> list[Part]:
    R = uniform(rng, 0.07, 0.14)
    Hb = R * uniform(rng, 0.4, 0.7)
    foot_r, foot_h = R * uniform(rng, 0.35, 0.5), R * 0.06
    phi = np.radians(np.linspace(0, 90, 10))
    ys = foot_h + (Hb - foot_h) * (1 - np.cos(phi) ** uniform(rng, 0.7, 1.2))
    rs = foot_r + (R - foot_r) * np.sin(phi)
    ys = np.concatenate([[0.0], ys])
    rs = np.concatenate([[foot_r], rs])
    wall = max(0.004, R * 0.05)
    body = vessel(ys, rs, wall, foot_h + wall)
    col = any_of(rng, white, pastel, vivid, wood, dark)
    parts = [Part("bowl", body, col)]
    if rng.random() < 0.4:
        parts.append(Part("rim", band(Hb - 0.1 * Hb, Hb + 0.01), vivid(rng), paint=True))
    if rng.random() < 0.45:  # fruit resting inside
        fruits, colors = [], []
        n = int(rng.integers(2, 6))
        for _ in range(n):
            fr = R * uniform(rng, 0.22, 0.33)
            rho = uniform(rng, 0, max(R - wall - fr * 1.2, 0.0))
            ang = uniform(rng, 0, 2 * math.pi)
            floor = float(np.interp(rho + fr * 0.5, rs - wall, ys))
            floor = max(floor, foot_h + wall)
            fruits.append(Sphere(fr, (rho * math.cos(ang), floor + fr * 0.9, rho * math.sin(ang))))
            colors.append(
                choice(rng, [_hsv(0.07, 0.9, 0.95), _hsv(0.0, 0.85, 0.75), _hsv(0.25, 0.7, 0.7), _hsv(0.14, 0.8, 0.95)])
            )
        parts.append(Part("fruit", Union(*fruits), colors))
    return parts


# ----------------------------------------------------------------------------------------------------------------
# Lamps


def _shade(y0: float, y1: float, r0: float, r1: float, wall: float) -> Revolve:
    """Lamp shade: a conical wall open at both ends (a ring-like profile, nothing on the axis)."""
    return Revolve([(r0, y0), (r1, y1), (r1 - wall, y1), (r0 - wall, y0)])


def lamp(rng) -> list[Part]:
    kind = choice(rng, ["table", "table", "floor", "desk"])
    base_col, shade_col = any_of(rng, metal, dark, vivid, white, wood), any_of(rng, white, pastel, vivid, fabric)
    if kind == "desk":
        br = uniform(rng, 0.07, 0.1)
        parts = [Part("base", rounded_cylinder((0, 0, 0), (0, 0.025, 0), br, 0.008), base_col)]
        a, b = np.array([0, 0.02, -0.02]), np.array([0, uniform(rng, 0.25, 0.35), -uniform(rng, 0.06, 0.12)])
        c = b + np.array([0, uniform(rng, -0.02, 0.06), uniform(rng, 0.2, 0.3)])
        arm = Union(Capsule(a, b, 0.011), Capsule(b, c, 0.011), Sphere(0.02, b))
        parts.append(Part("arm", arm, base_col))
        hr, hl = uniform(rng, 0.05, 0.08), uniform(rng, 0.08, 0.12)
        tilt = rotation("x", uniform(rng, 25, 50))  # the head points down and forward
        wall = 0.005
        head = Cone((0, 0, 0), (0, -hl, 0), 0.02, hr).shell(wall)
        # keep the conical wall and the top, open the wide end: the bulb shows inside
        head = Intersection(head, HalfSpace((0, 1, 0), 0.0))
        head = Intersection(head, HalfSpace((0, -1, 0), hl - 1.5 * wall)).rotate(tilt).translate(c)
        parts.append(Part("head", head, shade_col))
        parts.append(Part("bulb", Sphere(hr * 0.45, c + tilt @ np.array([0, -hl * 0.6, 0])), _hsv(0.14, 0.2, 1.0)))
        return parts
    H = uniform(rng, 0.35, 0.6) if kind == "table" else uniform(rng, 1.4, 1.8)
    br = uniform(rng, 0.07, 0.12) if kind == "table" else uniform(rng, 0.14, 0.2)
    sh = H * uniform(rng, 0.3, 0.45) if kind == "table" else uniform(rng, 0.25, 0.35)
    r1 = sh * uniform(rng, 0.45, 0.75)
    r0 = r1 * uniform(rng, 1.1, 1.6)
    if kind == "table" and rng.random() < 0.5:  # vase-shaped base
        bh = H * uniform(rng, 0.35, 0.5)
        ys, rs = smooth_profile(rng, [0, bh * 0.5, bh], [br * 0.7, br, br * 0.3], 10)
        base = solid_of_revolution(ys, rs)
        stem_r = 0.01
    else:
        base = rounded_cylinder((0, 0, 0), (0, 0.03, 0), br, 0.01)
        stem_r = uniform(rng, 0.01, 0.018) * (1.5 if kind == "floor" else 1.0)
    parts = [Part("base", base, base_col)]
    parts.append(Part("stem", y_cylinder(0, 0.01, H - sh * 0.4, 0, stem_r), base_col))
    parts.append(Part("shade", _shade(H - sh, H, r0, r1, max(0.025 * H, 0.012 * sh)), shade_col))
    parts.append(Part("bulb", Sphere(min(r1 * 0.5, 0.05), (0, H - sh * 0.45, 0)), _hsv(0.14, 0.2, 1.0)))
    return parts


# ----------------------------------------------------------------------------------------------------------------
# Vehicles


def _wheels(x: float, width: float, z: float, r: float, tire, hub) -> list[Part]:
    """Four wheels (mirrored in x and z) whose axles run along x, at |z| = z, outer face at |x| = x."""
    wheel = rounded_cylinder((x - width, r, z), (x, r, z), r, 0.25 * width).mirror("xz")
    cap = Cylinder((x - 0.02, r, z), (x + 0.02, r, z), 0.55 * r).mirror("xz")
    return [Part("wheels", wheel, tire), Part("hubs", cap, hub, paint=True)]


def _side_profile(points, half_width: float, r: float) -> SDF:
    """A body from its side silhouette: polygon in (z, y) with the front at +z, extruded across x and rounded."""
    poly = np.asarray(points, float)
    return Extrude(poly, half_width - r).round(r).rotate(rotation("y", -90))


def car(rng) -> list[Part]:
    kind = choice(rng, ["sedan", "hatch", "suv", "sports"])
    L, Wd = uniform(rng, 3.8, 4.9), uniform(rng, 1.65, 1.9)
    wr = uniform(rng, 0.3, 0.34) * (1.12 if kind == "suv" else 1.0)
    clear = wr * uniform(rng, 0.45, 0.6) * (1.3 if kind == "suv" else 1.0)
    belt = clear + wr * uniform(rng, 1.5, 1.8) * (0.85 if kind == "sports" else 1.0)
    roof = belt + uniform(rng, 0.42, 0.55) * (0.75 if kind == "sports" else 1.15 if kind == "suv" else 1.0)
    f, b = L / 2, -L / 2
    cf = f - L * uniform(rng, 0.27, 0.33)  # where the windscreen meets the hood
    cb = {"sedan": b + L * uniform(rng, 0.17, 0.22), "sports": b + L * 0.22}.get(kind, b + 0.08)
    body_pts = [
        (b, clear + 0.08),
        (b + 0.15, clear),
        (f - 0.15, clear),
        (f, clear + 0.1),
        (f, belt - 0.18),
        (f - 0.25, belt - 0.1),
        (cf, belt),
        (b + 0.1, belt),
        (b, belt - 0.1),
    ]
    body_col = vivid(rng) if rng.random() < 0.7 else any_of(rng, white, dark, metal)
    body = _side_profile(body_pts, Wd / 2, 0.06)
    ww = 0.22  # wheel width
    wz, wx = L / 2 - L * uniform(rng, 0.16, 0.2), Wd / 2 - 0.02
    wells = Cylinder((wx - ww - 0.05, wr, wz), (wx + 0.1, wr, wz), wr + 0.05).mirror("xz")
    parts = [Part("body", body - wells, body_col)]
    # cabin (greenhouse): the windscreen leans back from the hood, the rear drops to the trunk or the tailgate
    slope_f = (roof - belt) * uniform(rng, 1.2, 1.7) * (1.3 if kind == "sports" else 1.0)
    slope_b = (roof - belt) * {"sedan": 1.2, "sports": 1.5, "hatch": 0.45, "suv": 0.25}[kind]
    cabin_pts = [(cb, belt - 0.05), (cf, belt - 0.05), (cf - slope_f, roof), (cb + slope_b, roof)]
    cabin = _side_profile(cabin_pts, Wd / 2 - 0.1, 0.05)
    parts.append(Part("cabin", cabin, body_col))
    glass = _hsv(0.58, uniform(rng, 0.2, 0.45), uniform(rng, 0.15, 0.3))
    m = 0.07
    win_band = box_at((-Wd / 2 + 0.18, belt + 0.03, -L), (Wd / 2 - 0.18, roof - m, L))  # windscreen + rear window
    side = [
        (cb + m * 2, belt + 0.02),
        (cf - 0.1, belt + 0.02),
        (cf - slope_f + m, roof - m),
        (cb + slope_b + m, roof - m),
    ]
    side_win = Extrude(np.asarray(side), Wd).rotate(rotation("y", -90))
    parts.append(Part("windows", Union(win_band, side_win), glass, paint=True))
    tire, hub = dark(rng), metal(rng)
    parts += _wheels(wx, ww, wz, wr, tire, hub)
    lamp_y = belt - 0.2
    head = box_at((Wd / 2 - 0.4, lamp_y - 0.07, f - 0.3), (Wd / 2 - 0.1, lamp_y + 0.07, f + 0.2)).mirror("x")
    parts.append(Part("headlights", head, _hsv(0.13, 0.15, 1.0), paint=True))
    tail = box_at((Wd / 2 - 0.35, lamp_y - 0.06, b - 0.2), (Wd / 2 - 0.08, lamp_y + 0.06, b + 0.3)).mirror("x")
    parts.append(Part("taillights", tail, _hsv(0.0, 0.85, 0.8), paint=True))
    grille = box_at((-Wd / 4, clear + 0.12, f - 0.2), (Wd / 4, lamp_y + 0.02, f + 0.2))
    parts.append(Part("grille", grille, dark(rng), paint=True))
    bumper = box_at((-Wd / 2 + 0.05, clear - 0.03, b - 0.06), (Wd / 2 - 0.05, clear + 0.12, f + 0.06), 0.04)
    parts.append(Part("bumpers", bumper, any_of(rng, dark, metal)))
    return parts


def truck(rng) -> list[Part]:
    kind = choice(rng, ["box", "pickup", "bus"])
    Wd, wr = uniform(rng, 2.0, 2.4), uniform(rng, 0.42, 0.52)
    L = uniform(rng, 5.5, 7.5) if kind != "pickup" else uniform(rng, 4.8, 5.6)
    if kind == "pickup":
        Wd, wr = Wd * 0.85, wr * 0.8
    f, b = L / 2, -L / 2
    chassis_y = wr * 1.15
    body_col, tire, hub = vivid(rng) if rng.random() < 0.75 else white(rng), dark(rng), metal(rng)
    glass = _hsv(0.58, 0.35, 0.22)
    axles = [f - wr * 2.2, b + wr * 2.0]
    if kind == "box" and rng.random() < 0.6:
        axles.append(b + wr * 4.3)
    # wheel wells: every body part is cut around the wheels, so the wheels show from the side
    wells = Union(*[Cylinder((Wd / 2 - 0.5, wr, z), (Wd, wr, z), wr + 0.06) for z in axles]).mirror("x")
    parts = [
        Part("chassis", box_at((-Wd / 2 + 0.25, wr * 0.6, b + 0.2), (Wd / 2 - 0.25, chassis_y, f - 0.1)), dark(rng))
    ]
    cab_front = f
    if kind == "bus":
        H = uniform(rng, 2.8, 3.2)
        parts.append(Part("body", box_at((-Wd / 2, chassis_y - 0.2, b), (Wd / 2, H, f), 0.15) - wells, body_col))
        win = box_at((-Wd, H * 0.55, b + 0.4), (Wd, H - 0.3, f - 0.2))
        front = box_at((-Wd / 2 + 0.15, H * 0.45, f - 0.2), (Wd / 2 - 0.15, H - 0.3, f + 0.2))
        parts.append(Part("windows", Union(win, front), glass, paint=True))
    else:
        cab_l = uniform(rng, 1.6, 2.1)
        cab_h = uniform(rng, 2.4, 2.9) if kind == "box" else uniform(rng, 1.7, 1.9)
        cab = _side_profile(
            [
                (f - cab_l, chassis_y - 0.1),
                (f, chassis_y - 0.1),
                (f, cab_h * 0.62),
                (f - 0.35, cab_h),
                (f - cab_l, cab_h),
            ],
            Wd / 2,
            0.1,
        )
        parts.append(Part("cab", cab - wells, body_col))
        screen = box_at((-Wd / 2 + 0.15, cab_h * 0.64, f - 0.6), (Wd / 2 - 0.15, cab_h - 0.1, f + 0.3))
        side = box_at((-Wd, cab_h * 0.64, f - cab_l + 0.2), (Wd, cab_h - 0.12, f - 0.5))
        parts.append(Part("windows", Union(screen, side), glass, paint=True))
        back = f - cab_l - 0.08
        if kind == "box":  # cargo box on the chassis, above the wheels
            floor = 2 * wr + 0.08
            cargo = box_at((-Wd / 2 - 0.05, floor, b), (Wd / 2 + 0.05, cab_h + uniform(rng, 0.1, 0.6), back), 0.05)
            parts.append(Part("cargo box", cargo, any_of(rng, white, metal, vivid)))
        else:  # open bed: floor above the wheels, sides cut by the wells
            floor = 2 * wr + 0.03
            bed = box_at((-Wd / 2, chassis_y - 0.1, b), (Wd / 2, floor + 0.45, back), 0.05)
            hollow = box_at((-Wd / 2 + 0.15, floor, b + 0.15), (Wd / 2 - 0.15, floor + 1.0, back - 0.15))
            parts.append(Part("bed", bed - hollow - wells, body_col))
    wheel = rounded_cylinder((Wd / 2 - 0.35, wr, 0), (Wd / 2 - 0.02, wr, 0), wr, 0.06)
    hubc = Cylinder((Wd / 2 - 0.05, wr, 0), (Wd / 2 + 0.01, wr, 0), wr * 0.5)
    wheels = Union(*[wheel.translate((0, 0, z)) for z in axles]).mirror("x")
    hubs = Union(*[hubc.translate((0, 0, z)) for z in axles]).mirror("x")
    parts += [Part("wheels", wheels, tire), Part("hubs", hubs, hub, paint=True)]
    ly = chassis_y + 0.25
    head = box_at((Wd / 2 - 0.45, ly - 0.1, cab_front - 0.2), (Wd / 2 - 0.12, ly + 0.1, cab_front + 0.3)).mirror("x")
    parts.append(Part("headlights", head, _hsv(0.13, 0.15, 1.0), paint=True))
    parts.append(
        Part(
            "bumper",
            box_at((-Wd / 2, wr * 0.5, f - 0.1), (Wd / 2, chassis_y, f + 0.12), 0.05),
            any_of(rng, dark, metal),
        )
    )
    return parts


def rocket(rng) -> list[Part]:
    R, H = uniform(rng, 0.1, 0.16), uniform(rng, 0.9, 1.4)
    nose = H * uniform(rng, 0.22, 0.35)
    tail_r = R * uniform(rng, 0.7, 1.0)
    base_y = uniform(rng, 0.08, 0.15)
    body_top = H - nose
    # ogive nose: radius falls along a circular arc to the tip
    t = np.linspace(0, 1, 10)
    nose_y = body_top + nose * t
    nose_r = R * np.sqrt(np.maximum(1 - t**2, 0.0)) ** uniform(rng, 0.8, 1.5)
    prof = [
        (0.0, base_y),
        (tail_r, base_y),
        (R, base_y + H * 0.12),
        *zip(nose_r[:-1], nose_y[:-1], strict=True),
        (0.0, H),
    ]
    body_col, accent = any_of(rng, white, metal, vivid), vivid(rng)
    parts = [Part("body", Revolve(prof), body_col)]
    parts.append(Part("nose", Box((1, nose * 0.6, 1), (0, H, 0)), accent, paint=True))
    n = int(rng.integers(3, 5))
    fl, fh = R * uniform(rng, 0.9, 1.5), H * uniform(rng, 0.2, 0.3)
    fin2d = [(tail_r * 0.5, 0.0), (tail_r * 0.5 + fl, 0.0), (tail_r * 0.5 + fl * 0.6, fh * 0.35), (R * 0.6, fh)]
    fin = Extrude(np.asarray(fin2d), uniform(rng, 0.012, 0.02)).translate((0, base_y * 0.2, 0))
    phase = 0 if n == 4 else 90
    fins = Union(*[fin.rotate(rotation("y", phase + 45 + 360 * k / n)) for k in range(n)])
    parts.append(Part("fins", fins, accent))
    parts.append(
        Part("nozzle", Cone((0, base_y * 0.1, 0), (0, base_y + 0.02, 0), tail_r * 0.8, tail_r * 0.55), dark(rng))
    )
    wy = body_top - H * uniform(rng, 0.08, 0.18)
    wr = R * uniform(rng, 0.3, 0.45)
    frame = Torus(wr, R * 0.06).rotate(rotation("x", 90)).translate((0, wy, R))
    parts.append(Part("window frame", frame, metal(rng)))
    window = Sphere(wr, (0, wy, R))
    parts.append(Part("window", window, _hsv(0.55, 0.5, 0.55), paint=True))
    if rng.random() < 0.6:
        y0 = uniform(rng, 0.35, 0.6) * H
        parts.append(Part("stripe", Box((1, 0.03 * H, 1), (0, y0, 0)), accent, paint=True))
    return parts


# ----------------------------------------------------------------------------------------------------------------
# Nature, buildings, figures


def _mushroom(rng, h: float, cap_r: float, cap_col: Color, stem_col: Color, spots: bool) -> list[Part]:
    sr = cap_r * uniform(rng, 0.22, 0.35)
    ys, rs = smooth_profile(rng, [0, h * 0.5, h], [sr * uniform(rng, 1.1, 1.5), sr, sr * 0.9], 8)
    stem = solid_of_revolution(ys, rs)
    ch = cap_r * uniform(rng, 0.45, 0.9)
    a = np.radians(np.linspace(0, 90, 9))
    dome = [(cap_r * math.cos(t), h - 0.1 * ch + ch * math.sin(t)) for t in a]
    cap = Revolve([(0.0, h - 0.25 * ch), (cap_r * 0.9, h - 0.12 * ch), *dome[:-1], (0.0, h + 0.9 * ch)])
    parts = [Part("stem", stem, stem_col), Part("cap", cap, cap_col)]
    if spots:
        dots = []
        for _ in range(int(rng.integers(5, 11))):
            t, phi = uniform(rng, 0.15, 1.2), uniform(rng, 0, 2 * math.pi)
            p = np.array(
                [
                    cap_r * math.cos(t) * math.cos(phi),
                    h - 0.1 * ch + ch * math.sin(t),
                    cap_r * math.cos(t) * math.sin(phi),
                ]
            )
            dots.append(Sphere(cap_r * uniform(rng, 0.08, 0.14), p))
        parts.append(Part("spots", Union(*dots), white(rng), paint=True))
    return parts


def mushroom(rng) -> list[Part]:
    red = rng.random() < 0.5
    cap_col = (
        _hsv(uniform(rng, 0.98, 1.02), 0.85, 0.8)
        if red
        else _hsv(uniform(rng, 0.05, 0.1), 0.6, uniform(rng, 0.35, 0.7))
    )
    stem_col = _hsv(0.1, uniform(rng, 0.05, 0.2), uniform(rng, 0.85, 0.95))
    parts = []
    n = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    for k in range(n):
        h = uniform(rng, 0.08, 0.14) * (1 if k == 0 else uniform(rng, 0.5, 0.8))
        cr = h * uniform(rng, 0.5, 0.9)
        ps = _mushroom(rng, h, cr, cap_col, stem_col, red and rng.random() < 0.8)
        if k:
            ang = 360 * k / n + uniform(rng, -30, 30)
            off = rotation("y", ang) @ np.array([cr * 1.6 + 0.02, 0, 0])
            lean = rotation("z", -uniform(rng, 5, 20))
            ps = [
                Part(p.name, p.sdf.rotate(lean).rotate(rotation("y", ang)).translate(off), p.color, p.paint) for p in ps
            ]
        parts += ps
    if rng.random() < 0.4:
        parts.append(
            Part(
                "ground",
                rounded_cylinder((0, -0.015, 0), (0, 0.003, 0), 0.14, 0.006),
                _hsv(0.28, 0.5, uniform(rng, 0.3, 0.5)),
            )
        )
    return parts


def plant(rng) -> list[Part]:
    pr, ph = uniform(rng, 0.08, 0.14), uniform(rng, 0.1, 0.2)
    ys = np.linspace(0, ph, 4)
    wall = 0.01
    pot = vessel(ys, pr * (0.75 + 0.25 * ys / ph), wall, 0.02)
    pot_col = any_of(rng, lambda r: _hsv(0.05, 0.6, 0.6), white, vivid, dark)
    soil_top = ph * 0.85
    soil = Cone((0, 0.015, 0), (0, soil_top, 0), pr * 0.75 - wall, pr * (0.75 + 0.25 * soil_top / ph) - wall)
    parts = [Part("pot", pot, pot_col), Part("soil", soil, _hsv(0.07, 0.6, 0.25))]
    green = _hsv(uniform(rng, 0.22, 0.38), uniform(rng, 0.5, 0.8), uniform(rng, 0.35, 0.65))
    if rng.random() < 0.5:  # round leafy tree
        th = uniform(rng, 0.2, 0.4)
        parts.append(Part("trunk", Cone((0, ph * 0.8, 0), (0, ph + th, 0), 0.018, 0.012), wood(rng)))
        top = ph + th
        cr = uniform(rng, 0.1, 0.16)
        crown = Ellipsoid((cr, cr * uniform(rng, 0.9, 1.4), cr), (0, top + 0.06, 0))
        for _ in range(int(rng.integers(3, 6))):
            d = rng.normal(size=3)
            d = d / np.linalg.norm(d) * uniform(rng, 0.06, 0.1)
            crown = SmoothUnion(crown, Sphere(uniform(rng, 0.06, 0.1), (d[0], top + 0.06 + abs(d[1]), d[2])), 0.04)
        parts.append(Part("foliage", crown, green))
    else:  # pine: stacked cones
        trunk_h = uniform(rng, 0.05, 0.1)
        parts.append(Part("trunk", y_cylinder(0, ph * 0.8, ph + trunk_h + 0.05, 0, 0.02), wood(rng)))
        y = ph + trunk_h
        r = uniform(rng, 0.14, 0.2)
        cones = []
        for _ in range(int(rng.integers(2, 4))):
            h = r * uniform(rng, 1.1, 1.5)
            cones.append(Cone((0, y, 0), (0, y + h, 0), r, 0.0))
            y, r = y + h * 0.45, r * 0.75
        parts.append(Part("foliage", Union(*cones), green))
    return parts


def house(rng) -> list[Part]:
    W, D, H = uniform(rng, 5, 9), uniform(rng, 4, 8), uniform(rng, 2.6, 5.5)
    roof_h = uniform(rng, 1.5, 3.0)
    wall_col = any_of(rng, white, pastel, lambda r: _hsv(0.05, 0.55, 0.6), wood)
    roof_col = any_of(rng, lambda r: _hsv(0.02, 0.7, 0.5), dark, lambda r: _hsv(0.58, 0.4, 0.4), wood)
    parts = [Part("walls", box_at((-W / 2, 0, -D / 2), (W / 2, H, D / 2)), wall_col)]
    ov = uniform(rng, 0.2, 0.5)
    if rng.random() < 0.5:  # gable facing the front: ridge along z
        tri = [(-W / 2 - ov, H - 0.1), (W / 2 + ov, H - 0.1), (0, H + roof_h)]
        roof = Extrude(np.asarray(tri), D / 2 + ov)
    else:  # ridge along x: the front shows the roof slope
        tri = [(-D / 2 - ov, H - 0.1), (D / 2 + ov, H - 0.1), (0, H + roof_h)]
        roof = Extrude(np.asarray(tri), W / 2 + ov).rotate(rotation("y", 90))
    parts.append(Part("roof", roof, roof_col))
    if rng.random() < 0.7:
        cx = uniform(rng, -W / 4, W / 4)
        parts.append(
            Part(
                "chimney",
                box_at((cx - 0.35, H, -0.5), (cx + 0.35, H + roof_h * 0.95, 0.2)),
                any_of(rng, lambda r: _hsv(0.03, 0.6, 0.45), dark, white),
            )
        )
    dx = uniform(rng, -W / 4, W / 4)
    door = box_at((dx - 0.5, 0, D / 2 - 0.05), (dx + 0.5, 2.1, D / 2 + 0.12))
    parts.append(Part("door", door, any_of(rng, wood, vivid, dark)))
    glass = _hsv(0.58, 0.35, uniform(rng, 0.45, 0.7))
    wins = []
    floors = 1 if H < 4 else 2
    for fl in range(floors):
        y0 = 0.9 + fl * 2.6
        for x in np.linspace(-W / 2, W / 2, 5)[1:-1]:
            if abs(x - dx) < 1.0 and fl == 0:
                continue
            wins.append(box_at((x - 0.45, y0, D / 2 - 0.2), (x + 0.45, y0 + 1.1, D / 2 + 0.2)))
        for z in (-D / 4, D / 4):
            wins.append(box_at((-W, y0, z - 0.45), (W, y0 + 1.1, z + 0.45)))
    parts.append(Part("windows", Union(*wins), glass, paint=True))
    parts.append(Part("step", box_at((dx - 0.8, 0, D / 2), (dx + 0.8, 0.2, D / 2 + 0.5)), any_of(rng, metal, white)))
    return parts


def snowman(rng) -> list[Part]:
    n = 3 if rng.random() < 0.75 else 2
    r = uniform(rng, 0.25, 0.35)
    snow = _hsv(0.58, uniform(rng, 0.0, 0.06), uniform(rng, 0.9, 0.98))
    y = r * 0.9
    balls = []
    centers = []
    for _ in range(n):
        balls.append(Sphere(r, (0, y, 0)))
        centers.append((y, r))
        nr = r * uniform(rng, 0.65, 0.8)
        y += r * 0.85 + nr * 0.85
        r = nr
    body = balls[0]
    for s in balls[1:]:
        body = SmoothUnion(body, s, 0.03)
    parts = [Part("snow", body, snow)]
    hy, hr = centers[-1]
    black = dark(rng)
    parts.append(
        Part(
            "nose",
            Cone((0, hy, hr * 0.8), (0, hy - 0.01, hr + uniform(rng, 0.1, 0.18)), 0.025, 0.004),
            _hsv(0.07, 0.9, 0.95),
        )
    )
    eyes = Sphere(0.022, (hr * 0.35, hy + hr * 0.3, hr * 0.9)).mirror("x")
    buttons = [
        Sphere(0.022, (0, cy + cr * s, cr * math.sqrt(1 - s * s) * 0.97))
        for cy, cr in centers[n - 2 : n - 1]
        for s in (-0.3, 0.0, 0.3)
    ]
    parts.append(Part("eyes", eyes, black))
    if buttons:
        parts.append(Part("buttons", Union(*buttons), black))
    if rng.random() < 0.7:  # top hat
        top = hy + hr * 0.8
        hat = Union(
            y_cylinder(0, top - 0.02, top + 0.01, 0, hr * 1.05), y_cylinder(0, top, top + hr * 0.9, 0, hr * 0.65)
        )
        parts.append(Part("hat", hat, any_of(rng, dark, vivid)))
    if n == 3 and rng.random() < 0.7:  # stick arms
        my, mr = centers[1]
        arm = Capsule((mr * 0.8, my + 0.05, 0), (mr + 0.3, my + 0.2 + uniform(rng, -0.05, 0.15), 0), 0.015)
        parts.append(Part("arms", arm.mirror("x"), _hsv(0.07, 0.6, 0.35)))
    if rng.random() < 0.6:
        ny = centers[-1][0] - centers[-1][1] * 0.85
        parts.append(Part("scarf", Torus(centers[-1][1] * 0.78, 0.03).translate((0, ny, 0)), vivid(rng)))
    return parts


def robot(rng) -> list[Part]:
    body_col, accent, joint = any_of(rng, metal, vivid, white), vivid(rng), any_of(rng, dark, metal)
    tw, th, td = uniform(rng, 0.3, 0.45), uniform(rng, 0.35, 0.5), uniform(rng, 0.2, 0.3)
    leg_h = uniform(rng, 0.25, 0.4)
    hip = leg_h + 0.05
    parts = [Part("torso", box_at((-tw / 2, hip, -td / 2), (tw / 2, hip + th, td / 2), 0.03), body_col)]
    hs = uniform(rng, 0.2, 0.3)
    neck = hip + th
    head = box_at((-hs / 2, neck + 0.04, -hs * 0.4), (hs / 2, neck + 0.04 + hs * 0.85, hs * 0.4), 0.03)
    parts.append(Part("head", head, body_col))
    parts.append(Part("neck", y_cylinder(0, neck - 0.01, neck + 0.05, 0, 0.04), joint))
    eye_y = neck + 0.04 + hs * 0.5
    eyes = Sphere(hs * 0.12, (hs * 0.22, eye_y, hs * 0.4)).mirror("x")
    parts.append(Part("eyes", eyes, choice(rng, [_hsv(0.5, 0.8, 1.0), _hsv(0.0, 0.8, 1.0), _hsv(0.15, 0.8, 1.0)])))
    ant_top = neck + 0.04 + hs * 0.85 + uniform(rng, 0.06, 0.12)
    parts.append(
        Part(
            "antenna",
            Union(Capsule((0, ant_top - 0.1, 0), (0, ant_top, 0), 0.012), Sphere(0.03, (0, ant_top, 0))),
            accent,
        )
    )
    lw = tw * uniform(rng, 0.22, 0.3)
    legs = box_at((tw * 0.12, 0, -lw * 0.6), (tw * 0.12 + lw, hip + 0.02, lw * 0.6), 0.02).mirror("x")
    feet = box_at((tw * 0.1, 0, -lw * 0.7), (tw * 0.14 + lw, 0.05, lw * 1.3), 0.015).mirror("x")
    parts += [Part("legs", legs, joint), Part("feet", feet, accent)]
    ar = uniform(rng, 0.03, 0.05)
    sx, sy = tw / 2 + ar, hip + th - 0.06
    swing = rotation("x", uniform(rng, -25, 25))
    arm = Capsule((0, 0, 0), (0, -th * 0.8, 0), ar).rotate(rotation("z", uniform(rng, 5, 25))).rotate(swing)
    hand = Sphere(ar * 1.5, swing @ rotation("z", 15) @ np.array([0, -th * 0.8, 0]))
    parts.append(Part("arms", Union(arm, hand).translate((sx + ar, sy, 0)).mirror("x"), joint))
    panel = box_at((-tw * 0.25, hip + th * 0.35, td / 2 - 0.05), (tw * 0.25, hip + th * 0.7, td / 2 + 0.05))
    parts.append(Part("chest panel", panel, accent, paint=True))
    return parts


def dumbbell(rng) -> list[Part]:
    kind = choice(rng, ["plates", "hex", "round"])
    L = uniform(rng, 0.28, 0.42)
    hr = uniform(rng, 0.015, 0.02)
    metal_col, weight_col = metal(rng), any_of(rng, dark, vivid)
    handle_half = L * uniform(rng, 0.25, 0.33)
    parts = [Part("handle", Cylinder((-L / 2, 0, 0), (L / 2, 0, 0), hr), metal_col)]
    if kind == "plates":
        x, plates = handle_half, []
        for k in range(int(rng.integers(1, 4))):
            pw, pr = uniform(rng, 0.018, 0.03), uniform(rng, 0.05, 0.09) * (0.85**k)
            plates.append(rounded_cylinder((x, 0, 0), (x + pw, 0, 0), pr, 0.004))
            x += pw + 0.002
        parts.append(Part("plates", Union(*plates).mirror("x"), weight_col))
        parts.append(Part("collars", Cylinder((x, 0, 0), (x + 0.012, 0, 0), hr * 1.7).mirror("x"), metal_col))
    elif kind == "hex":
        r = uniform(rng, 0.04, 0.07)
        hexagon = np.array([(r * math.cos(a), r * math.sin(a)) for a in np.radians(np.arange(0, 360, 60))])
        w = uniform(rng, 0.05, 0.08)
        head = Extrude(hexagon, w / 2).round(0.004).rotate(rotation("y", 90)).translate((handle_half + w / 2, 0, 0))
        parts.append(Part("heads", head.mirror("x"), weight_col))
    else:
        r = uniform(rng, 0.045, 0.07)
        parts.append(Part("heads", Sphere(r, (handle_half + r * 0.8, 0, 0)).mirror("x"), weight_col))
    return parts


def ring(rng) -> list[Part]:
    R = uniform(rng, 0.009, 0.011)  # inner radius of a finger ring, metres
    band_t, band_w = uniform(rng, 0.0015, 0.003), uniform(rng, 0.002, 0.006)
    gold = choice(rng, [_hsv(0.12, 0.7, 0.9), _hsv(0.1, 0.45, 0.85), metal(rng), _hsv(0.05, 0.4, 0.85)])
    if rng.random() < 0.5:
        band_sdf = Torus(R + band_t / 2, max(band_t, band_w) / 2)
    else:  # flat band: rectangle profile revolved
        band_sdf = Revolve([(R, -band_w / 2), (R + band_t, -band_w / 2), (R + band_t, band_w / 2), (R, band_w / 2)])
        band_sdf = band_sdf.round(min(band_t, band_w) * 0.3)
    # the ring stands up facing the viewer: its axis along z
    parts = [Part("band", band_sdf.rotate(rotation("x", 90)), gold)]
    if rng.random() < 0.7:
        top = R + band_t
        g = uniform(rng, 0.0025, 0.0045)  # gem radius
        cut = Revolve([(0.0, -g * 0.9), (g, 0.0), (g * 0.6, g * 0.5), (0.0, g * 0.5)])  # pavilion, girdle, table
        gem = cut.translate((0, top + g * 0.7, 0))
        gem_col = choice(rng, [_hsv(0.55, 0.2, 0.98), _hsv(0.0, 0.85, 0.8), _hsv(0.62, 0.8, 0.8), _hsv(0.35, 0.8, 0.6)])
        parts.append(Part("gem", gem, gem_col))
        setting = Cone((0, top - band_t * 0.5, 0), (0, top + g * 0.5, 0), g * 0.35, g * 0.8)
        parts.append(Part("setting", setting, gold))
    return parts


# ----------------------------------------------------------------------------------------------------------------
# Machined parts: not an everyday object, but the vocabulary of the CAD meshes people encode (flat faces, sharp
# edges, through-holes, pockets, thin plates and flanges), which the furniture and vessels above do not teach.


def _polygon_profile(rng, w: float, h: float) -> list[tuple[float, float]]:
    """A closed 2-D outline about the origin, at most w x h: an L, T, U, cross or regular n-gon."""
    t = uniform(rng, 0.18, 0.4)  # web thickness as a fraction of the size
    kind = choice(rng, ["L", "T", "U", "cross", "ngon"])
    if kind == "ngon":
        r, n = min(w, h) / 2, int(rng.integers(5, 9))
        return [(r * math.cos(a), r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, n, endpoint=False)]
    x0, x1, y0, y1 = -w / 2, w / 2, -h / 2, h / 2
    tw, th = t * w, t * h
    if kind == "L":
        pts = [(x0, y0), (x1, y0), (x1, y0 + th), (x0 + tw, y0 + th), (x0 + tw, y1), (x0, y1)]
    elif kind == "T":
        pts = [
            (-tw / 2, y0),
            (tw / 2, y0),
            (tw / 2, y1 - th),
            (x1, y1 - th),
            (x1, y1),
            (x0, y1),
            (x0, y1 - th),
            (-tw / 2, y1 - th),
        ]
    elif kind == "U":
        pts = [
            (x0, y0),
            (x1, y0),
            (x1, y1),
            (x1 - tw, y1),
            (x1 - tw, y0 + th),
            (x0 + tw, y0 + th),
            (x0 + tw, y1),
            (x0, y1),
        ]
    else:
        a, b = tw / 2, th / 2
        pts = [
            (-a, y0),
            (a, y0),
            (a, -b),
            (x1, -b),
            (x1, b),
            (a, b),
            (a, y1),
            (-a, y1),
            (-a, b),
            (x0, b),
            (x0, -b),
            (-a, -b),
        ]
    return pts


def _holes(rng, w: float, d: float, y0: float, y1: float, r_max: float) -> list[SDF]:
    """0-4 vertical through-holes (cylinders along y) inside a w x d footprint."""
    out = []
    for _ in range(int(rng.integers(0, 5))):
        r = uniform(rng, 0.2, 1.0) * r_max
        x, z = uniform(rng, -1, 1) * max(w / 2 - 1.5 * r, 0.0), uniform(rng, -1, 1) * max(d / 2 - 1.5 * r, 0.0)
        out.append(Cylinder((x, y0 - 0.01, z), (x, y1 + 0.01, z), r))
    return out


def part(rng) -> list[Part]:
    col = any_of(rng, metal, dark, vivid, pastel)
    kind = choice(rng, ["block", "plate", "disc", "ring", "profile"])
    W, D = uniform(rng, 0.5, 1.0), uniform(rng, 0.3, 1.0)
    H = uniform(rng, 0.04, 0.12) if kind in ("plate", "ring") else uniform(rng, 0.15, 0.7)
    edge = choice(rng, [0.0, 0.0, 0.01, 0.03])
    cuts: list[SDF] = []
    extra: list[SDF] = []
    if kind in ("block", "plate"):
        body = box_at((-W / 2, 0, -D / 2), (W / 2, H, D / 2), min(edge, H / 3))
        cuts += _holes(rng, W, D, 0, H, 0.12 * min(W, D))
        if rng.random() < 0.5:  # a pocket or slot milled from the top
            pw, pd = uniform(rng, 0.2, 0.6) * W, uniform(rng, 0.2, 0.6) * D
            depth = uniform(rng, 0.3, 0.7) * H
            cuts.append(box_at((-pw / 2, H - depth, -pd / 2), (pw / 2, H + 0.01, pd / 2)))
        if rng.random() < 0.4:  # a boss or a rib on top
            if rng.random() < 0.5:
                r = uniform(rng, 0.08, 0.2) * min(W, D)
                extra.append(Cylinder((0, H - 0.01, 0), (0, H + uniform(rng, 0.05, 0.3), 0), r))
            else:
                t = uniform(rng, 0.02, 0.06)
                extra.append(box_at((-W / 2, H - 0.01, -t / 2), (W / 2, H + uniform(rng, 0.05, 0.3), t / 2)))
    elif kind in ("disc", "ring"):
        R = W / 2
        body = Cylinder((0, 0, 0), (0, H, 0), R)
        if kind == "ring":
            body = body - Cylinder((0, -0.01, 0), (0, H + 0.01, 0), R * uniform(rng, 0.6, 0.9))
            if rng.random() < 0.5:  # teeth around the rim
                n, tooth = int(rng.integers(8, 25)), uniform(rng, 0.03, 0.08) * R
                teeth = [
                    Box((tooth, H / 2, tooth * 0.8), (0, H / 2, 0))
                    .translate((R, 0, 0))
                    .rotate(rotation("y", 360 * k / n))
                    for k in range(n)
                ]
                extra.append(Union(*teeth))
        else:
            cuts += _holes(rng, W * 0.7, W * 0.7, 0, H, 0.15 * R)
            if rng.random() < 0.5:  # a stepped hub
                extra.append(
                    Cylinder((0, H - 0.01, 0), (0, H + uniform(rng, 0.05, 0.4), 0), R * uniform(rng, 0.2, 0.6))
                )
    else:
        body = Extrude(_polygon_profile(rng, W, uniform(rng, 0.5, 1.0)), D / 2)
        if rng.random() < 0.5:  # holes through the profile, along z
            for _ in range(int(rng.integers(1, 3))):
                r = uniform(rng, 0.03, 0.08)
                x, y = uniform(rng, -0.3, 0.3) * W, uniform(rng, -0.3, 0.3)
                cuts.append(Cylinder((x, y, -D), (x, y, D), r))
    solid = Union(body, *extra)
    if cuts:
        solid = solid - Union(*cuts)
    turn = choice(rng, [None, None, ("x", 90), ("z", 90), ("y", 45)])
    if turn is not None:
        solid = solid.rotate(rotation(*turn))
    return [Part("body", solid, col)]


FAMILIES: dict[str, Callable] = {
    "chair": chair,
    "table": table,
    "stool": stool,
    "shelf": shelf,
    "sofa": sofa,
    "mug": mug,
    "cup": cup,
    "vase": vase,
    "bottle": bottle,
    "bowl": bowl,
    "lamp": lamp,
    "car": car,
    "truck": truck,
    "rocket": rocket,
    "mushroom": mushroom,
    "plant": plant,
    "house": house,
    "snowman": snowman,
    "robot": robot,
    "dumbbell": dumbbell,
    "ring": ring,
    "part": part,
}


def family_rng(family: str, seed: int) -> np.random.Generator:
    """The generator behind (family, seed): stable across runs and platforms (crc32, not Python's hash)."""
    return np.random.default_rng([zlib.crc32(family.encode()), int(seed)])


def make_shape(family: str, seed: int, extent: float = EXTENT, yaw_deg: float = 0.0, tilt_deg: float = 0.0) -> Shape:
    """Shape number `seed` of `family`, normalised into [-extent, extent]^3. Deterministic.

    yaw_deg turns the object about +Y (its front, +Z, towards +X); tilt_deg then tips its top towards +Z (the viewer
    of the front view). Both 0: the canonical pose, front facing +Z.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown shape family {family!r}; choose from {', '.join(FAMILIES)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    pose = rotation("x", tilt_deg) @ rotation("y", yaw_deg) if (yaw_deg or tilt_deg) else None
    return Shape(family, seed, FAMILIES[family](family_rng(family, seed)), extent, pose)
