"""Analytic signed distance functions in numpy, vectorised over query points.

Every node maps points `p: [N, 3]` (float64) to signed distances `[N]`: negative inside, positive outside, zero on
the surface. Units are whatever the caller builds in; `Scale` keeps distances in world units.

Exactness (what the labels can promise):
- primitives are exact Euclidean distances: Sphere, Box, RoundBox, Capsule, Cylinder, Cone (frustum), Torus,
  Ellipsoid (closed form after a 1-D root solve to ~1e-12), Revolve (lathe of a 2-D polygon), Extrude (prism of a
  2-D polygon), HalfSpace;
- Translate, Rotate, uniform Scale, Round (offset) and Mirror keep exactness;
- Union is exact outside; inside, and everywhere for Intersection, Subtract, SmoothUnion and Shell, the value is a
  1-Lipschitz lower bound of the true distance with the exact sign. So occupancy (the sign) is exact everywhere
  and |sdf| never overstates the distance to the surface, which is what sphere tracing, sparse grid refinement and
  Newton projection onto the zero set rely on.

Every node also carries a conservative axis-aligned bounding box (`bounds`: lo [3], hi [3]); Union uses it to skip
children that cannot be the nearest, which keeps shapes with many small parts cheap.

These classes are the readable reference; `latentgen.data.sdf_jit.compile_sdf(node)` evaluates the same tree with a
numba kernel (same values, 5-30x faster), which is what `Shape` uses.
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray


class SDF:
    """A signed distance field node. Call it on points [N, 3] -> distances [N]."""

    lo: Array  # [3] conservative bounding box of the solid (where sdf <= 0)
    hi: Array

    def __call__(self, p: Array) -> Array:
        raise NotImplementedError

    @property
    def bounds(self) -> tuple[Array, Array]:
        return self.lo.copy(), self.hi.copy()

    # Builders, so shapes read as expressions: Box(...).round(0.01).translate((0, 1, 0)) | Sphere(0.3)
    def translate(self, t) -> SDF:
        return Translate(self, t)

    def rotate(self, matrix) -> SDF:
        return Rotate(self, matrix)

    def scale(self, s: float) -> SDF:
        return Scale(self, s)

    def round(self, r: float) -> SDF:
        return Round(self, r)

    def shell(self, thickness: float) -> SDF:
        return Shell(self, thickness)

    def mirror(self, axes: str) -> SDF:
        return Mirror(self, axes)

    def __or__(self, other: SDF) -> SDF:
        return Union(self, other)

    def __sub__(self, other: SDF) -> SDF:
        return Subtract(self, other)

    def __and__(self, other: SDF) -> SDF:
        return Intersection(self, other)


def _vec3(v) -> Array:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.shape == (1,):
        a = np.repeat(a, 3)
    if a.shape != (3,):
        raise ValueError(f"expected a 3-vector, got shape {np.shape(v)}")
    return a


def _points(p: Array) -> Array:
    return np.asarray(p, dtype=np.float64).reshape(-1, 3)


def _norm(v: Array) -> Array:
    """Row norms of [N, K] -> [N] (einsum avoids the temporary of v * v)."""
    return np.sqrt(np.einsum("ij,ij->i", v, v))


def _box2(qx: Array, qy: Array, hx: float, hy: float) -> Array:
    """Exact 2-D box distance for centred half extents (hx, hy)."""
    dx, dy = np.abs(qx) - hx, np.abs(qy) - hy
    outside = np.hypot(np.maximum(dx, 0.0), np.maximum(dy, 0.0))
    return outside + np.minimum(np.maximum(dx, dy), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Primitives


class Sphere(SDF):
    def __init__(self, radius: float, center=(0.0, 0.0, 0.0)):
        self.r, self.c = float(radius), _vec3(center)
        self.lo, self.hi = self.c - self.r, self.c + self.r

    def __call__(self, p):
        return _norm(_points(p) - self.c) - self.r


class Box(SDF):
    """Axis-aligned box with half extents `half`, centred at `center`."""

    def __init__(self, half, center=(0.0, 0.0, 0.0)):
        self.h, self.c = _vec3(half), _vec3(center)
        if (self.h <= 0).any():
            raise ValueError(f"Box half extents must be positive, got {self.h}")
        self.lo, self.hi = self.c - self.h, self.c + self.h

    def __call__(self, p):
        q = np.abs(_points(p) - self.c) - self.h  # [N, 3]
        return _norm(np.maximum(q, 0.0)) + np.minimum(q.max(axis=1), 0.0)


def RoundBox(half, radius: float, center=(0.0, 0.0, 0.0)) -> SDF:
    """Box of half extents `half` whose edges are rounded with `radius` (outer size stays `half`). Exact."""
    h = _vec3(half)
    if radius <= 0:
        return Box(h, center)
    if (h <= radius).any():
        raise ValueError(f"RoundBox radius {radius} must be smaller than every half extent {h}")
    return Round(Box(h - radius, center), radius)


class Capsule(SDF):
    """Segment a-b swept by a ball of `radius`."""

    def __init__(self, a, b, radius: float):
        self.a, self.b, self.r = _vec3(a), _vec3(b), float(radius)
        self.ba = self.b - self.a
        self.inv = 1.0 / max(float(self.ba @ self.ba), 1e-300)
        self.lo = np.minimum(self.a, self.b) - self.r
        self.hi = np.maximum(self.a, self.b) + self.r

    def __call__(self, p):
        pa = _points(p) - self.a
        t = np.clip(pa @ self.ba * self.inv, 0.0, 1.0)
        return _norm(pa - t[:, None] * self.ba) - self.r


class _Axial(SDF):
    """Solids of revolution about the segment a-b: evaluated in (radial distance, axial coordinate from a)."""

    def __init__(self, a, b):
        self.a, self.b = _vec3(a), _vec3(b)
        axis = self.b - self.a
        self.length = float(np.linalg.norm(axis))
        if self.length <= 0:
            raise ValueError("axis end points must differ")
        self.u = axis / self.length

    def _rho_t(self, p: Array) -> tuple[Array, Array]:
        pa = _points(p) - self.a
        t = pa @ self.u
        rho = np.sqrt(np.maximum(np.einsum("ij,ij->i", pa, pa) - t * t, 0.0))
        return rho, t

    def _disk_bounds(self, ra: float, rb: float) -> None:
        # a disk of radius r normal to u spans r * sqrt(1 - u_i^2) along axis i: exact box of the frustum
        ext = np.sqrt(np.maximum(1.0 - self.u**2, 0.0))
        self.lo = np.minimum(self.a - ra * ext, self.b - rb * ext)
        self.hi = np.maximum(self.a + ra * ext, self.b + rb * ext)


class Cylinder(_Axial):
    """Capped cylinder of `radius` between the centres of its end disks a and b."""

    def __init__(self, a, b, radius: float):
        super().__init__(a, b)
        self.r = float(radius)
        self._disk_bounds(self.r, self.r)

    def __call__(self, p):
        rho, t = self._rho_t(p)
        return _box2(rho, t - 0.5 * self.length, self.r, 0.5 * self.length)


class Cone(_Axial):
    """Capped cone (frustum) with radius `ra` at end a and `rb` at end b (either may be 0)."""

    def __init__(self, a, b, ra: float, rb: float):
        super().__init__(a, b)
        self.ra, self.rb = float(ra), float(rb)
        if min(self.ra, self.rb) < 0 or max(self.ra, self.rb) <= 0:
            raise ValueError(f"Cone radii must be >= 0 and not both 0, got {ra}, {rb}")
        self.profile = np.array([[0.0, 0.0], [self.ra, 0.0], [self.rb, self.length], [0.0, self.length]])
        self.axis_edge = _axis_edges(self.profile)
        self._disk_bounds(self.ra, self.rb)

    def __call__(self, p):
        rho, t = self._rho_t(p)
        return polygon_sdf(np.stack([rho, t], axis=1), self.profile, self.axis_edge)


class Torus(SDF):
    """Ring of major radius R (centre line in the XZ plane, axis +Y) and tube radius r."""

    def __init__(self, major: float, minor: float):
        self.R, self.r = float(major), float(minor)
        self.lo = np.array([-self.R - self.r, -self.r, -self.R - self.r])
        self.hi = -self.lo

    def __call__(self, p):
        p = _points(p)
        q = np.hypot(p[:, 0], p[:, 2]) - self.R
        return np.hypot(q, p[:, 1]) - self.r


class HalfSpace(SDF):
    """{p : n . p <= offset}, n normalised. Its box is infinite except along axes n is aligned with."""

    def __init__(self, normal, offset: float):
        n = _vec3(normal)
        self.n = n / np.linalg.norm(n)
        self.o = float(offset)
        self.lo, self.hi = np.full(3, -np.inf), np.full(3, np.inf)
        for i in range(3):
            if np.isclose(abs(self.n[i]), 1.0):
                if self.n[i] > 0:
                    self.hi[i] = self.o
                else:
                    self.lo[i] = -self.o

    def __call__(self, p):
        return _points(p) @ self.n - self.o


class Ellipsoid(SDF):
    """Axis-aligned ellipsoid with semi-axes `radii`. Exact distance.

    The closest point x of the surface to y (first octant) is x_i = a_i^2 y_i / (t + a_i^2) where t is the root of
    F(t) = sum_i (a_i y_i / (t + a_i^2))^2 - 1, which is decreasing on t > -a_min^2. The root is bracketed by
    [-a_min^2 + a_min y_min, a_max |y|] (F >= 0 and F <= 0 there) and found by bisection: robust for every point,
    inside or out, including the degenerate medial plane.
    """

    ITERATIONS = 64  # halves the bracket to ~1e-19 of its width: exact to float64 rounding

    def __init__(self, radii, center=(0.0, 0.0, 0.0)):
        self.a, self.c = _vec3(radii), _vec3(center)
        if (self.a <= 0).any():
            raise ValueError(f"Ellipsoid radii must be positive, got {self.a}")
        self.lo, self.hi = self.c - self.a, self.c + self.a

    def __call__(self, p):
        y = np.abs(_points(p) - self.c)
        order = np.argsort(self.a)
        a = self.a[order]  # ascending semi-axes
        y = np.maximum(y[:, order], 1e-300)  # y_min = 0 exactly would drop a term of F; a tiny value keeps it
        a2 = a * a
        lo = -a2[0] + a[0] * y[:, 0]
        hi = a[2] * _norm(y)
        ay = a * y  # [N, 3]
        for _ in range(self.ITERATIONS):
            mid = 0.5 * (lo + hi)
            f = ((ay / (mid[:, None] + a2)) ** 2).sum(axis=1) - 1.0
            pos = f > 0
            lo = np.where(pos, mid, lo)
            hi = np.where(pos, hi, mid)
        t = 0.5 * (lo + hi)
        x = a2 * y / (t[:, None] + a2)
        dist = _norm(x - y)
        inside = ((y / a) ** 2).sum(axis=1) < 1.0
        return np.where(inside, -dist, dist)


class Revolve(SDF):
    """Lathe: a closed 2-D polygon in the (r, y) half plane (r >= 0) revolved about the +Y axis. Exact.

    `profile`: [K, 2] vertices (r, y) of a simple polygon, either orientation, not closed explicitly. Edges lying on
    the axis (both ends r = 0) close the solid but are not surface, so they are left out of the distance. Profiles
    that stay off the axis give rings (a tube profile) or vessels (a wall profile).
    """

    def __init__(self, profile):
        self.profile = _polygon(profile)
        if (self.profile[:, 0] < 0).any():
            raise ValueError("Revolve profile needs r >= 0")
        self.axis_edge = _axis_edges(self.profile)
        rmax = self.profile[:, 0].max()
        self.lo = np.array([-rmax, self.profile[:, 1].min(), -rmax])
        self.hi = np.array([rmax, self.profile[:, 1].max(), rmax])

    def __call__(self, p):
        p = _points(p)
        q = np.stack([np.hypot(p[:, 0], p[:, 2]), p[:, 1]], axis=1)
        return polygon_sdf(q, self.profile, self.axis_edge)


class Extrude(SDF):
    """Prism: a closed 2-D polygon in the XY plane extruded over z in [-half_depth, half_depth]. Exact."""

    def __init__(self, polygon, half_depth: float):
        self.poly, self.hz = _polygon(polygon), float(half_depth)
        self.lo = np.array([*self.poly.min(axis=0), -self.hz])
        self.hi = np.array([*self.poly.max(axis=0), self.hz])

    def __call__(self, p):
        p = _points(p)
        d2 = polygon_sdf(p[:, :2], self.poly)
        dz = np.abs(p[:, 2]) - self.hz
        return np.hypot(np.maximum(d2, 0.0), np.maximum(dz, 0.0)) + np.minimum(np.maximum(d2, dz), 0.0)


def _polygon(poly) -> Array:
    poly = np.asarray(poly, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"expected a polygon [K >= 3, 2], got shape {poly.shape}")
    return poly


def _axis_edges(poly: Array) -> Array:
    nxt = np.roll(poly, -1, axis=0)
    return (poly[:, 0] == 0.0) & (nxt[:, 0] == 0.0)


def polygon_sdf(q: Array, poly: Array, skip: Array | None = None) -> Array:
    """Exact signed distance from 2-D points q [N, 2] to a simple polygon [K, 2] (negative inside).

    Distance: nearest point over the polygon's edges (edges flagged in `skip` [K] are not surface). Sign: even-odd
    crossing count over all edges. Vectorised as [N, K] arrays, so K should stay in the tens.
    """
    a = poly  # [K, 2] edge starts
    e = np.roll(poly, -1, axis=0) - a  # [K, 2] edge vectors
    ee = np.einsum("kc,kc->k", e, e)
    keep = ee > 0 if skip is None else (ee > 0) & ~skip
    px = q[:, 0:1] - a[None, :, 0]  # [N, K]
    py = q[:, 1:2] - a[None, :, 1]
    t = np.clip((px * e[:, 0] + py * e[:, 1]) / np.where(ee > 0, ee, 1.0), 0.0, 1.0)
    dx, dy = px - t * e[:, 0], py - t * e[:, 1]
    d2 = dx * dx + dy * dy
    d2[:, ~keep] = np.inf
    dist = np.sqrt(d2.min(axis=1))
    # even-odd rule: edges straddling the horizontal line through q, crossed to the right of q
    y0, y1 = a[None, :, 1], a[None, :, 1] + e[None, :, 1]
    straddle = (y0 <= q[:, 1:2]) != (y1 <= q[:, 1:2])
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = a[None, :, 0] + (q[:, 1:2] - y0) * e[None, :, 0] / e[None, :, 1]
    inside = (straddle & (q[:, 0:1] < x_cross)).sum(axis=1) % 2 == 1
    return np.where(inside, -dist, dist)


# ----------------------------------------------------------------------------------------------------------------
# Transforms


class Translate(SDF):
    def __init__(self, child: SDF, t):
        self.child, self.t = child, _vec3(t)
        self.lo, self.hi = child.lo + self.t, child.hi + self.t

    def __call__(self, p):
        return self.child(_points(p) - self.t)


class Rotate(SDF):
    """Rotate the child by the 3x3 rotation `matrix` (about the origin): solid' = R @ solid."""

    def __init__(self, child: SDF, matrix):
        R = np.asarray(matrix, dtype=np.float64)
        if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-9) or np.linalg.det(R) < 0:
            raise ValueError("Rotate needs a proper 3x3 rotation matrix")
        self.child, self.R = child, R
        self.lo, self.hi = _rotated_box(child.lo, child.hi, R)

    def __call__(self, p):
        return self.child(_points(p) @ self.R)  # rows: R^T p


def _rotated_box(lo: Array, hi: Array, R: Array) -> tuple[Array, Array]:
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return np.full(3, -np.inf), np.full(3, np.inf)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    rc = corners @ R.T
    return rc.min(axis=0), rc.max(axis=0)


def rotation(axis: str | Array, degrees: float) -> Array:
    """3x3 right-handed rotation matrix about "x", "y", "z" or a 3-vector axis."""
    if isinstance(axis, str):
        axis = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
    k = _vec3(axis)
    k = k / np.linalg.norm(k)
    th = math.radians(degrees)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * (K @ K)


class Scale(SDF):
    """Uniform scale about the origin; distances scale with it, so exactness is kept."""

    def __init__(self, child: SDF, s: float):
        if s <= 0:
            raise ValueError(f"Scale factor must be positive, got {s}")
        self.child, self.s = child, float(s)
        self.lo, self.hi = child.lo * self.s, child.hi * self.s

    def __call__(self, p):
        return self.s * self.child(_points(p) / self.s)


class Round(SDF):
    """Offset the surface outwards by r (rounds convex edges). Exact if the child is."""

    def __init__(self, child: SDF, r: float):
        self.child, self.r = child, float(r)
        self.lo, self.hi = child.lo - self.r, child.hi + self.r

    def __call__(self, p):
        return self.child(p) - self.r


class Shell(SDF):
    """A wall of half thickness `thickness` centred on the child's surface: |d| - t."""

    def __init__(self, child: SDF, thickness: float):
        self.child, self.t = child, float(thickness)
        self.lo, self.hi = child.lo - self.t, child.hi + self.t

    def __call__(self, p):
        return np.abs(self.child(p)) - self.t


class Mirror(SDF):
    """The child plus its mirror image across the planes x=0 / y=0 / z=0 named in `axes` (e.g. "xz": 4 copies).

    Evaluated as child(|x|, y, |z|): one evaluation for all copies, and exact because the child must lie in the
    positive half space of each mirrored axis (checked), so the nearest copy is always the one on the point's side.
    """

    def __init__(self, child: SDF, axes: str):
        self.child = child
        self.axes = sorted({"xyz".index(a) for a in axes})
        self.lo, self.hi = child.lo.copy(), child.hi.copy()
        for i in self.axes:
            if child.lo[i] < -1e-12:
                raise ValueError(f"Mirror across {'xyz'[i]}=0 needs the child at {'xyz'[i]} >= 0")
            self.lo[i] = -child.hi[i]

    def __call__(self, p):
        p = _points(p).copy()
        p[:, self.axes] = np.abs(p[:, self.axes])
        return self.child(p)


# ----------------------------------------------------------------------------------------------------------------
# CSG


def box_distance(p: Array, lo: Array, hi: Array) -> Array:
    """Distance from points [N, 3] to an axis-aligned box (0 inside): a lower bound of any sdf it bounds."""
    q = np.maximum(np.maximum(lo - p, p - hi), 0.0)
    return _norm(q)


class Union(SDF):
    """min over children; exact outside. Children whose box is farther than the best distance so far are skipped
    per point (exact, since a child's sdf is at least the distance to its box)."""

    def __init__(self, *children: SDF, flatten: bool = True):
        if not children:
            raise ValueError("Union needs at least one child")
        flat: list[SDF] = []
        for c in children:  # (a | b) | c -> one node, so culling sees every part; flatten=False keeps child indices
            flat.extend(c.children if flatten and type(c) is Union else [c])
        self.children = flat
        self.lo = np.min([c.lo for c in flat], axis=0)
        self.hi = np.max([c.hi for c in flat], axis=0)
        # biggest children first: their distances prune the most
        size = [np.prod(np.minimum(c.hi - c.lo, 1e6)) for c in flat]
        self.order = np.argsort(-np.asarray(size), kind="stable")

    def __call__(self, p):
        return self.evaluate(p)[0]

    def evaluate(self, p: Array) -> tuple[Array, Array]:
        """-> (distance [N], index [N] of the child that attains it)."""
        p = _points(p)
        n = len(p)
        d = np.full(n, np.inf)
        idx = np.zeros(n, dtype=np.int64)
        for k in self.order:
            c = self.children[k]
            if np.isfinite(c.lo).all() and np.isfinite(c.hi).all():
                lb = box_distance(p, c.lo, c.hi)
                sel = np.nonzero((lb < d) | (lb == 0.0))[0]  # inside the box the child may be negative
            else:
                sel = np.arange(n)
            if len(sel) == 0:
                continue
            dk = c(p[sel])
            better = dk < d[sel]
            d[sel] = np.where(better, dk, d[sel])
            idx[sel[better]] = k
        return d, idx


class Intersection(SDF):
    def __init__(self, a: SDF, b: SDF):
        self.a, self.b = a, b
        self.lo, self.hi = np.maximum(a.lo, b.lo), np.minimum(a.hi, b.hi)

    def __call__(self, p):
        return np.maximum(self.a(p), self.b(p))


class Subtract(SDF):
    """a minus b: max(a, -b). b is skipped where it cannot matter: outside b's box, b >= the box distance lb, so
    -b <= -lb and the max is a wherever a >= -lb (inside b's box b must always be evaluated)."""

    def __init__(self, a: SDF, b: SDF):
        self.a, self.b = a, b
        self.lo, self.hi = a.lo.copy(), a.hi.copy()

    def __call__(self, p):
        p = _points(p)
        d = self.a(p)
        if np.isfinite(self.b.lo).all() and np.isfinite(self.b.hi).all():
            lb = box_distance(p, self.b.lo, self.b.hi)
            sel = np.nonzero((lb == 0.0) | (d < -lb))[0]
        else:
            sel = np.arange(len(p))
        if len(sel):
            d[sel] = np.maximum(d[sel], -self.b(p[sel]))
        return d


class SmoothUnion(SDF):
    """Union with a fillet of size ~k where the parts meet (polynomial smooth minimum). 1-Lipschitz: its gradient is
    a convex combination of the children's gradients."""

    def __init__(self, a: SDF, b: SDF, k: float):
        self.a, self.b, self.k = a, b, float(k)
        # smin < min(a, b) only where |a - b| < k, and it is >= min - k/4: added material lies where both a and b
        # are below 1.25 k, i.e. within 1.25 k of both boxes, and within k/4 of their union
        lo, hi = np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi)
        blend_lo = np.maximum(a.lo, b.lo) - 1.25 * self.k
        blend_hi = np.minimum(a.hi, b.hi) + 1.25 * self.k
        if (blend_lo <= blend_hi).all():
            lo = np.minimum(lo, np.maximum(blend_lo, lo - self.k / 4))
            hi = np.maximum(hi, np.minimum(blend_hi, hi + self.k / 4))
        self.lo, self.hi = lo, hi

    def __call__(self, p):
        da, db = self.a(p), self.b(p)
        h = np.clip(0.5 + 0.5 * (db - da) / self.k, 0.0, 1.0)
        return h * da + (1 - h) * db - self.k * h * (1 - h)
