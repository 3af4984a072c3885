"""Procedural training data: shapes with exact signed distances, training samples, and conditioning images.

Example::

    from latentgen.data import make_shape, sample_shape, render_conditioning, build_dataset, ShapeDataset
    shape = make_shape("chair", seed=7)                 # deterministic in (family, seed); inside [-0.9, 0.9]^3
    d = shape.sdf(xyz)                                   # xyz [N, 3] -> [N], negative inside (exact sign)
    rgb = shape.color(xyz)                               # [N, 3] per-part sRGB colours
    s = sample_shape(shape.sdf, SampleConfig(), seed=0)  # surface / sharp samples, labelled queries, mesh
    image, camera = render_conditioning(shape, s.mesh_vertices, s.mesh_faces, s.mesh_normals, rng)
    build_dataset("data/procedural", DatasetConfig(), workers=2, progress=print)
"""

from .dataset import DATA_FORMAT, DatasetConfig, ShapeDataset, build_dataset, dataset_items, load_index
from .render import RenderConfig, input_camera, render_conditioning, render_shape
from .sampling import SampleConfig, ShapeSamples, extract_mesh, project_to_surface, sample_shape
from .shapes import EXTENT, FAMILIES, Part, Shape, make_shape

__all__ = [
    "DATA_FORMAT",
    "EXTENT",
    "FAMILIES",
    "DatasetConfig",
    "Part",
    "RenderConfig",
    "SampleConfig",
    "Shape",
    "ShapeDataset",
    "ShapeSamples",
    "build_dataset",
    "dataset_items",
    "extract_mesh",
    "input_camera",
    "load_index",
    "make_shape",
    "project_to_surface",
    "render_conditioning",
    "render_shape",
    "sample_shape",
]
