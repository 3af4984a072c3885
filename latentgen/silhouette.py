"""How well a shape agrees with its picture: the shape's silhouette from the input camera against the picture's mask.

    mask = silhouette(mesh, 512)                       # [512, 512] bool, framed as image.prepare_image frames photos
    score = iou(mask, prep.mask > 127)

Both masks are recentred the same way (image.recenter, border 0.15), so the figure does not depend on framing,
only on the outline. `latentgen eval` scores image -> shape with it, and generate_shape uses it to pick the best
of several sampled candidates (shape.ShapeOptions.candidates).
"""

from __future__ import annotations

import cv2
import numpy as np
import trimesh

from .image import recenter


def silhouette(mesh: trimesh.Trimesh, size: int = 512) -> np.ndarray:
    """Front-view (input camera, orthographic) silhouette of a mesh, recentred like the input image: [S, S] bool."""
    from .data.render import input_camera
    from .render import get_rasterizer

    vertices = np.asarray(mesh.vertices, np.float64)
    if len(mesh.faces) == 0:
        return np.zeros((size, size), bool)
    camera = input_camera(vertices, size)
    mask = get_rasterizer("cpu").rasterize(vertices, np.asarray(mesh.faces), camera).mask
    if not mask.any():
        return np.zeros((size, size), bool)
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., 3] = mask * 255
    return recenter(rgba, size)[1] > 127


def iou(pred, true) -> float:
    """Intersection over union of two boolean arrays, masks or volumes (1.0 when both are empty)."""
    p, t = np.asarray(pred, bool), np.asarray(true, bool)
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """[H, W] uint8 mask (0..255) -> [size, size] bool: area average, then more than half covered."""
    m = np.asarray(mask, np.float32) / 255.0
    return cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) > 0.5


def silhouette_score(mesh: trimesh.Trimesh, mask: np.ndarray, size: int | None = None) -> float:
    """IoU between the mesh's input-camera silhouette and a picture's recentred foreground mask [S, S]
    (at `size` pixels when given: choosing among candidates needs no full-resolution masks)."""
    size = size or mask.shape[0]
    return iou(silhouette(mesh, size), resize_mask(mask, size))
