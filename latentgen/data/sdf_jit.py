"""Fast evaluation of `latentgen.data.sdf` trees: the tree is flattened into a small bytecode program that one
numba kernel runs point by point (parallel over chunks of points).

The numpy classes in sdf.py stay the reference: `compile_sdf(node)(p)` returns the same values as `node(p)` (to
float64 rounding), including the same bounding-box culling in Union and Subtract. Per point, the kernel keeps a stack
of transformed query points and a stack of distances; no [N, ...] temporaries are made, which is what makes it
5-30x faster than the numpy tree on shapes with many parts or polygon profiles.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import sdf as S

# opcodes: primitives push a distance computed at the current point
SPHERE, BOX, CAPSULE, CYLINDER, REVOLVE, AXIAL_POLY, TORUS, HALFSPACE, ELLIPSOID, EXTRUDE = range(1, 11)
# point stack
PUSH_TRANSLATE, PUSH_ROTATE, PUSH_SCALE, PUSH_MIRROR, POP, POP_MUL = range(20, 26)
# distance stack
PUSH_INF, CULL, MIN, MAX, SUB_TEST, SUB_END, SMIN, ADD, ABS_SUB = range(30, 39)


class Program:
    """Bytecode under construction: op codes, an offset into `params` per op, and a jump target per op."""

    def __init__(self) -> None:
        self.ops: list[int] = []
        self.arg: list[int] = []
        self.jump: list[int] = []
        self.params: list[float] = []
        self.depth_p = self.depth_v = 1
        self._p = self._v = 0

    def emit(self, op: int, *values) -> int:
        self.ops.append(op)
        self.arg.append(len(self.params))
        self.jump.append(-1)
        for v in values:
            self.params.extend(np.asarray(v, dtype=np.float64).reshape(-1).tolist())
        return len(self.ops) - 1

    def here(self) -> int:
        return len(self.ops)

    def point(self, delta: int) -> None:
        self._p += delta
        self.depth_p = max(self.depth_p, self._p + 1)

    def value(self, delta: int) -> None:
        self._v += delta
        self.depth_v = max(self.depth_v, self._v)


class CompiledSDF:
    """`node` compiled: call it on points [N, 3] -> [N]; `evaluate` also returns the root Union's argmin child."""

    def __init__(self, node: S.SDF, track: bool = True):
        prog = Program()
        _emit(node, prog, track_root=track)
        self.ops = np.asarray(prog.ops, np.int64)
        self.arg = np.asarray(prog.arg, np.int64)
        self.jump = np.asarray(prog.jump, np.int64)
        self.params = np.asarray(prog.params, np.float64)
        self.depth_p, self.depth_v = prog.depth_p, prog.depth_v
        self.lo, self.hi = node.lo, node.hi

    def evaluate(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.ascontiguousarray(np.asarray(p, dtype=np.float64).reshape(-1, 3))
        d = np.empty(len(p))
        idx = np.zeros(len(p), np.int64)
        if len(p):
            run = _run if len(p) >= PARALLEL_MIN else _run_serial  # waking threads costs more than small batches
            run(self.ops, self.arg, self.jump, self.params, self.depth_p, self.depth_v, p, d, idx)
        return d, idx

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return self.evaluate(p)[0]


def compile_sdf(node: S.SDF, track: bool = True) -> CompiledSDF:
    """Compile an SDF tree. track: `evaluate` reports which child of a root Union is nearest (else 0)."""
    return CompiledSDF(node, track)


# ----------------------------------------------------------------------------------------------------------------
# Tree -> bytecode


def _finite_box(node: S.SDF) -> bool:
    return bool(np.isfinite(node.lo).all() and np.isfinite(node.hi).all())


def _emit(node: S.SDF, prog: Program, track_root: bool = False) -> None:
    t = type(node)
    if t is S.Sphere:
        prog.emit(SPHERE, node.r, node.c)
    elif t is S.Box:
        prog.emit(BOX, node.h, node.c)
    elif t is S.Capsule:
        prog.emit(CAPSULE, node.a, node.ba, node.inv, node.r)
    elif t is S.Cylinder:
        prog.emit(CYLINDER, node.a, node.u, node.length, node.r)
    elif t is S.Cone:
        prog.emit(AXIAL_POLY, node.a, node.u, len(node.profile), node.profile, node.axis_edge)
    elif t is S.Revolve:
        prog.emit(REVOLVE, len(node.profile), node.profile, node.axis_edge)
    elif t is S.Torus:
        prog.emit(TORUS, node.R, node.r)
    elif t is S.HalfSpace:
        prog.emit(HALFSPACE, node.n, node.o)
    elif t is S.Ellipsoid:
        order = np.argsort(node.a)
        prog.emit(ELLIPSOID, node.a[order], order, node.c)
    elif t is S.Extrude:
        prog.emit(EXTRUDE, node.hz, len(node.poly), node.poly)
    elif t in (S.Translate, S.Rotate, S.Scale, S.Mirror):
        if t is S.Translate:
            prog.emit(PUSH_TRANSLATE, node.t)
        elif t is S.Rotate:
            prog.emit(PUSH_ROTATE, node.R)
        elif t is S.Scale:
            prog.emit(PUSH_SCALE, node.s)
        else:
            prog.emit(PUSH_MIRROR, [1.0 if i in node.axes else 0.0 for i in range(3)])
        prog.point(+1)
        _emit(node.child, prog)
        prog.point(-1)
        if t is S.Scale:
            prog.emit(POP_MUL, node.s)
        else:
            prog.emit(POP)
        return
    elif t is S.Round:
        _emit(node.child, prog)
        prog.emit(ADD, -node.r)
        return
    elif t is S.Shell:
        _emit(node.child, prog)
        prog.emit(ABS_SUB, node.t)
        return
    elif t is S.Union:
        prog.emit(PUSH_INF)
        prog.value(+1)
        for k in node.order:  # same order as the numpy reference, so ties resolve alike
            child = node.children[k]
            cull = prog.emit(CULL, child.lo, child.hi) if _finite_box(child) else -1
            _emit(child, prog)
            prog.emit(MIN, k, 1.0 if track_root else 0.0)
            prog.value(-1)
            if cull >= 0:
                prog.jump[cull] = prog.here()
        return
    elif t is S.Intersection or t is S.SmoothUnion:
        _emit(node.a, prog)
        _emit(node.b, prog)
        if t is S.Intersection:
            prog.emit(MAX)
        else:
            prog.emit(SMIN, node.k)
        prog.value(-1)
        return
    elif t is S.Subtract:
        _emit(node.a, prog)
        test = prog.emit(SUB_TEST, node.b.lo, node.b.hi) if _finite_box(node.b) else -1
        _emit(node.b, prog)
        prog.emit(SUB_END)
        prog.value(-1)
        if test >= 0:
            prog.jump[test] = prog.here()
        return
    else:
        raise TypeError(f"cannot compile SDF node {t.__name__}")
    prog.value(+1)  # every primitive pushes one distance


# ----------------------------------------------------------------------------------------------------------------
# Kernel

CHUNK = 512  # points per work item: stacks are allocated once per chunk
PARALLEL_MIN = 8 * CHUNK  # fewer points than this run on the calling thread


@njit(parallel=True, cache=True)
def _run(ops, arg, jump, prm, depth_p, depth_v, pts, out, out_idx):
    n = pts.shape[0]
    nchunks = (n + CHUNK - 1) // CHUNK
    for c in prange(nchunks):
        ps = np.empty((depth_p, 3))
        vs = np.empty(depth_v + 1)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            ps[0, 0], ps[0, 1], ps[0, 2] = pts[i, 0], pts[i, 1], pts[i, 2]
            d, k = _eval_point(ops, arg, jump, prm, ps, vs)
            out[i] = d
            out_idx[i] = k


@njit(cache=True)
def _run_serial(ops, arg, jump, prm, depth_p, depth_v, pts, out, out_idx):
    ps = np.empty((depth_p, 3))
    vs = np.empty(depth_v + 1)
    for i in range(pts.shape[0]):
        ps[0, 0], ps[0, 1], ps[0, 2] = pts[i, 0], pts[i, 1], pts[i, 2]
        out[i], out_idx[i] = _eval_point(ops, arg, jump, prm, ps, vs)


@njit(cache=True)
def _eval_point(ops, arg, jump, prm, ps, vs):
    sp = 0  # point stack top
    sv = -1  # value stack top
    track = 0
    pc = 0
    m = ops.shape[0]
    while pc < m:
        op = ops[pc]
        a = arg[pc]
        x, y, z = ps[sp, 0], ps[sp, 1], ps[sp, 2]
        if op < 20:
            sv += 1
            vs[sv] = _primitive(op, a, prm, x, y, z)
        elif op == PUSH_TRANSLATE:
            sp += 1
            ps[sp, 0], ps[sp, 1], ps[sp, 2] = x - prm[a], y - prm[a + 1], z - prm[a + 2]
        elif op == PUSH_ROTATE:  # p @ R: local_j = sum_i p_i R[i, j]
            sp += 1
            ps[sp, 0] = x * prm[a] + y * prm[a + 3] + z * prm[a + 6]
            ps[sp, 1] = x * prm[a + 1] + y * prm[a + 4] + z * prm[a + 7]
            ps[sp, 2] = x * prm[a + 2] + y * prm[a + 5] + z * prm[a + 8]
        elif op == PUSH_SCALE:
            sp += 1
            s = prm[a]
            ps[sp, 0], ps[sp, 1], ps[sp, 2] = x / s, y / s, z / s
        elif op == PUSH_MIRROR:
            sp += 1
            ps[sp, 0] = abs(x) if prm[a] > 0 else x
            ps[sp, 1] = abs(y) if prm[a + 1] > 0 else y
            ps[sp, 2] = abs(z) if prm[a + 2] > 0 else z
        elif op == POP:
            sp -= 1
        elif op == POP_MUL:
            sp -= 1
            vs[sv] *= prm[a]
        elif op == PUSH_INF:
            sv += 1
            vs[sv] = np.inf
        elif op == CULL:
            lb = _box_distance(prm, a, x, y, z)
            if lb != 0.0 and not (lb < vs[sv]):
                pc = jump[pc]
                continue
        elif op == MIN:
            b = vs[sv]
            sv -= 1
            if b < vs[sv]:
                vs[sv] = b
                if prm[a + 1] > 0:
                    track = int(prm[a])
        elif op == MAX:
            b = vs[sv]
            sv -= 1
            vs[sv] = max(vs[sv], b)
        elif op == SUB_TEST:
            lb = _box_distance(prm, a, x, y, z)
            if lb != 0.0 and not (vs[sv] < -lb):
                pc = jump[pc]
                continue
        elif op == SUB_END:
            b = vs[sv]
            sv -= 1
            vs[sv] = max(vs[sv], -b)
        elif op == SMIN:
            b = vs[sv]
            sv -= 1
            da = vs[sv]
            kk = prm[a]
            h = min(max(0.5 + 0.5 * (b - da) / kk, 0.0), 1.0)
            vs[sv] = h * da + (1.0 - h) * b - kk * h * (1.0 - h)
        elif op == ADD:
            vs[sv] += prm[a]
        elif op == ABS_SUB:
            vs[sv] = abs(vs[sv]) - prm[a]
        pc += 1
    return vs[0], track


@njit(cache=True, inline="always")
def _box_distance(prm, a, x, y, z):
    qx = max(prm[a] - x, x - prm[a + 3], 0.0)
    qy = max(prm[a + 1] - y, y - prm[a + 4], 0.0)
    qz = max(prm[a + 2] - z, z - prm[a + 5], 0.0)
    return np.sqrt(qx * qx + qy * qy + qz * qz)


@njit(cache=True)
def _box2(qx, qy, hx, hy):
    dx, dy = abs(qx) - hx, abs(qy) - hy
    ox, oy = max(dx, 0.0), max(dy, 0.0)
    return np.sqrt(ox * ox + oy * oy) + min(max(dx, dy), 0.0)


@njit(cache=True)
def _polygon(prm, a, qx, qy, use_skip):
    """Exact 2-D polygon distance: K at prm[a], vertices after it, then K skip flags (if use_skip)."""
    k = int(prm[a])
    v = a + 1
    best = np.inf
    inside = False
    for i in range(k):
        j = i + 1 if i + 1 < k else 0
        ax, ay = prm[v + 2 * i], prm[v + 2 * i + 1]
        bx, by = prm[v + 2 * j], prm[v + 2 * j + 1]
        ex, ey = bx - ax, by - ay
        px, py = qx - ax, qy - ay
        ee = ex * ex + ey * ey
        skip = use_skip and prm[v + 2 * k + i] > 0
        if ee > 0 and not skip:
            t = min(max((px * ex + py * ey) / ee, 0.0), 1.0)
            dx, dy = px - t * ex, py - t * ey
            d2 = dx * dx + dy * dy
            if d2 < best:
                best = d2
        if (ay <= qy) != (by <= qy):
            xc = ax + (qy - ay) * ex / ey
            if qx < xc:
                inside = not inside
    d = np.sqrt(best)
    return -d if inside else d


@njit(cache=True)
def _primitive(op, a, prm, x, y, z):
    if op == SPHERE:
        dx, dy, dz = x - prm[a + 1], y - prm[a + 2], z - prm[a + 3]
        return np.sqrt(dx * dx + dy * dy + dz * dz) - prm[a]
    if op == BOX:
        qx = abs(x - prm[a + 3]) - prm[a]
        qy = abs(y - prm[a + 4]) - prm[a + 1]
        qz = abs(z - prm[a + 5]) - prm[a + 2]
        ox, oy, oz = max(qx, 0.0), max(qy, 0.0), max(qz, 0.0)
        return np.sqrt(ox * ox + oy * oy + oz * oz) + min(max(qx, max(qy, qz)), 0.0)
    if op == CAPSULE:
        px, py, pz = x - prm[a], y - prm[a + 1], z - prm[a + 2]
        bx, by, bz = prm[a + 3], prm[a + 4], prm[a + 5]
        t = min(max((px * bx + py * by + pz * bz) * prm[a + 6], 0.0), 1.0)
        dx, dy, dz = px - t * bx, py - t * by, pz - t * bz
        return np.sqrt(dx * dx + dy * dy + dz * dz) - prm[a + 7]
    if op == CYLINDER or op == AXIAL_POLY:
        px, py, pz = x - prm[a], y - prm[a + 1], z - prm[a + 2]
        t = px * prm[a + 3] + py * prm[a + 4] + pz * prm[a + 5]
        rho = np.sqrt(max(px * px + py * py + pz * pz - t * t, 0.0))
        if op == CYLINDER:
            half = 0.5 * prm[a + 6]
            return _box2(rho, t - half, prm[a + 7], half)
        return _polygon(prm, a + 6, rho, t, True)
    if op == REVOLVE:
        return _polygon(prm, a, np.sqrt(x * x + z * z), y, True)
    if op == TORUS:
        q = np.sqrt(x * x + z * z) - prm[a]
        return np.sqrt(q * q + y * y) - prm[a + 1]
    if op == HALFSPACE:
        return x * prm[a] + y * prm[a + 1] + z * prm[a + 2] - prm[a + 3]
    if op == EXTRUDE:
        d2 = _polygon(prm, a + 1, x, y, False)
        dz = abs(z) - prm[a]
        ox, oz = max(d2, 0.0), max(dz, 0.0)
        return np.sqrt(ox * ox + oz * oz) + min(max(d2, dz), 0.0)
    if op == ELLIPSOID:
        return _ellipsoid(prm, a, x, y, z)
    return np.nan


@njit(cache=True)
def _ellipsoid(prm, a, x, y, z):
    """Same bisection as sdf.Ellipsoid (see there): semi-axes sorted ascending at prm[a:a+3], their original axis
    indices at prm[a+3:a+6], centre at prm[a+6:a+9]."""
    p = (abs(x - prm[a + 6]), abs(y - prm[a + 7]), abs(z - prm[a + 8]))
    e0, e1, e2 = prm[a], prm[a + 1], prm[a + 2]
    y0 = max(p[int(prm[a + 3])], 1e-300)
    y1 = max(p[int(prm[a + 4])], 1e-300)
    y2 = max(p[int(prm[a + 5])], 1e-300)
    lo = -e0 * e0 + e0 * y0
    hi = e2 * np.sqrt(y0 * y0 + y1 * y1 + y2 * y2)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        f0 = e0 * y0 / (mid + e0 * e0)
        f1 = e1 * y1 / (mid + e1 * e1)
        f2 = e2 * y2 / (mid + e2 * e2)
        if f0 * f0 + f1 * f1 + f2 * f2 - 1.0 > 0:
            lo = mid
        else:
            hi = mid
    t = 0.5 * (lo + hi)
    c0 = e0 * e0 * y0 / (t + e0 * e0) - y0
    c1 = e1 * e1 * y1 / (t + e1 * e1) - y1
    c2 = e2 * e2 * y2 / (t + e2 * e2) - y2
    dist = np.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
    r = (y0 / e0) ** 2 + (y1 / e1) ** 2 + (y2 / e2) ** 2
    return -dist if r < 1.0 else dist
