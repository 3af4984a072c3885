"""The one camera convention of latentgen.

World: glTF axes, +Y up, +Z towards the viewer of the front view, +X to the right, metres.
Camera frame (OpenGL): the camera looks down its own -Z axis, +Y is image-up, +X is image-right.
`c2w` is the 4x4 camera-to-world matrix (columns: right, up, back, position).
Images: row 0 is the top, pixel (i, j) covers [j, j+1] x [i, i+1] and is sampled at its centre.
Depth: distance along the viewing axis (positive in front of the camera).
Projection: "perspective" with a vertical field of view `fov_deg`, or "orthographic" where
`ortho_scale` is the full height of the view in world units (the reference texture camera uses 1.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PROJECTIONS = ("perspective", "orthographic")


@dataclass(frozen=True)
class Camera:
    c2w: np.ndarray = field(repr=False)  # [4, 4] float64 camera-to-world
    width: int = 512
    height: int = 512
    projection: str = "perspective"
    fov_deg: float = 40.0  # vertical, perspective only
    ortho_scale: float = 1.2  # full view height in world units, orthographic only
    near: float = 0.01
    far: float = 100.0

    def __post_init__(self) -> None:
        c2w = np.asarray(self.c2w, dtype=np.float64)
        if c2w.shape != (4, 4) or not np.isfinite(c2w).all():
            raise ValueError("Camera.c2w must be a finite 4x4 matrix")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"Camera.projection must be one of {PROJECTIONS}, not {self.projection!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError("Camera image size must be positive")
        object.__setattr__(self, "c2w", c2w)

    @property
    def w2c(self) -> np.ndarray:
        return np.linalg.inv(self.c2w)

    @property
    def position(self) -> np.ndarray:
        return self.c2w[:3, 3].copy()

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in world space (the camera's -Z axis)."""
        f = -self.c2w[:3, 2]
        return f / np.linalg.norm(f)

    def focal_px(self) -> float:
        """Perspective: focal length in pixels. Orthographic: pixels per world unit."""
        if self.projection == "perspective":
            return 0.5 * self.height / math.tan(math.radians(self.fov_deg) / 2)
        return self.height / self.ortho_scale

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points: [P, 3] world -> (xy: [P, 2] continuous pixel coords (x right, y down), depth: [P])."""
        p = np.asarray(points, dtype=np.float64)
        cam = p @ self.w2c[:3, :3].T + self.w2c[:3, 3]
        depth = -cam[:, 2]
        f = self.focal_px()
        if self.projection == "perspective":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = cam[:, 0] / depth
                y = cam[:, 1] / depth
        else:
            x, y = cam[:, 0], cam[:, 1]
        xy = np.stack([self.width / 2 + f * x, self.height / 2 - f * y], axis=1)
        return xy, depth

    def gl_projection(self) -> np.ndarray:
        """OpenGL clip matrix [4, 4] (NDC y up) for rasterizers such as nvdiffrast."""
        n, f = self.near, self.far
        aspect = self.width / self.height
        m = np.zeros((4, 4))
        if self.projection == "perspective":
            t = math.tan(math.radians(self.fov_deg) / 2)
            m[0, 0], m[1, 1] = 1 / (t * aspect), 1 / t
            m[2, 2], m[2, 3] = -(f + n) / (f - n), -2 * f * n / (f - n)
            m[3, 2] = -1
        else:
            h = self.ortho_scale / 2
            m[0, 0], m[1, 1] = 1 / (h * aspect), 1 / h
            m[2, 2], m[2, 3] = -2 / (f - n), -(f + n) / (f - n)
            m[3, 3] = 1
        return m

    def to_dict(self) -> dict:
        return {
            "c2w": self.c2w.tolist(),
            "width": self.width,
            "height": self.height,
            "projection": self.projection,
            "fov_deg": self.fov_deg,
            "ortho_scale": self.ortho_scale,
            "near": self.near,
            "far": self.far,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(
            c2w=np.asarray(d["c2w"], dtype=np.float64),
            width=int(d["width"]),
            height=int(d["height"]),
            projection=str(d.get("projection", "perspective")),
            fov_deg=float(d.get("fov_deg", 40.0)),
            ortho_scale=float(d.get("ortho_scale", 1.2)),
            near=float(d.get("near", 0.01)),
            far=float(d.get("far", 100.0)),
        )


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """c2w [4, 4] for a camera at `eye` looking at `target`."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    back = eye - target
    back /= np.linalg.norm(back)
    if abs(np.dot(back, up / np.linalg.norm(up))) > 0.999:  # looking straight up/down: pick another up
        up = np.array([0.0, 0.0, -1.0]) if back[1] > 0 else np.array([0.0, 0.0, 1.0])
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    true_up = np.cross(back, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, back, eye
    return c2w


def orbit_camera(
    azimuth_deg: float,
    elevation_deg: float,
    distance: float,
    *,
    size: int = 512,
    projection: str = "perspective",
    fov_deg: float = 40.0,
    ortho_scale: float = 1.2,
) -> Camera:
    """Camera on a sphere around the origin looking at it.

    Azimuth 0 / elevation 0 is the front view: the camera sits on +Z looking towards -Z.
    Positive azimuth moves the camera towards +X (at 90 it sits on +X and sees the object's +X side);
    positive elevation lifts it towards +Y (at 90 it looks straight down).
    """
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = distance * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    return Camera(
        look_at(eye),
        width=size,
        height=size,
        projection=projection,
        fov_deg=fov_deg,
        ortho_scale=ortho_scale,
        near=max(1e-3, distance * 0.01),
        far=distance * 10 + 10,
    )
