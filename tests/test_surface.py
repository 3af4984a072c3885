"""Volume decoding and marching cubes: the reference grid, coarse-to-fine == dense, both vertex mappings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentgen.errors import StageError
from latentgen.surface import coarse_to_fine_grid, dense_grid, extract_mesh, grid_axis, refinement_plan

from .conftest import FIXTURES


def ball(center, radius, steep=8.0):
    """Occupancy-like logits: positive inside a ball, saturating away from it like a trained decoder's."""
    c = torch.tensor(center, dtype=torch.float32)
    return lambda xyz: steep * torch.tanh(radius - (xyz - c).norm(dim=-1))


def union(*fields):
    return lambda xyz: torch.stack([f(xyz) for f in fields]).amax(0)


def plate(thickness):
    """A tilted slab thinner than a coarse cell: the coarse grid alone would miss it."""
    n = torch.tensor([0.3, 1.0, 0.2]) / torch.tensor([0.3, 1.0, 0.2]).norm()
    return lambda xyz: (
        8.0 * torch.tanh(thickness / 2 - (xyz @ n - 0.1).abs()) - 8.0 * torch.relu(xyz.norm(dim=-1) - 0.8)
    )


# a small ball centred between the samples of the coarsest grid (16 cells over the box): the coarse grid does
# not see it, only the band around the level finds it
H16 = 2.02 / 16
SPECK = ball([-1.01 + 3.5 * H16, -1.01 + 12.5 * H16, -1.01 + 4.5 * H16], 0.035)


def same_mesh(a, b) -> bool:
    return (
        a.faces.shape == b.faces.shape and (a.faces == b.faces).all() and np.abs(a.vertices - b.vertices).max() < 1e-6
    )


def test_dense_grid_samples_the_reference_linspace_in_ij_order():
    vol = dense_grid(lambda p: p[:, 0] + 10 * p[:, 1] + 100 * p[:, 2], resolution=6, bounds=1.01, chunk=7)
    x = torch.from_numpy(np.linspace(-1.01, 1.01, 7, dtype=np.float32))
    expected = x[:, None, None] + 10 * x[None, :, None] + 100 * x[None, None, :]
    assert vol.grid.dtype == torch.float32 and vol.grid.shape == (7, 7, 7)
    assert torch.equal(vol.grid, expected) and vol.queries == 7**3


def test_chunk_size_never_changes_the_grid():
    f = union(ball([0.2, 0, 0], 0.4), ball([-0.5, 0.3, 0.1], 0.2))
    assert torch.equal(dense_grid(f, 20, chunk=13).grid, dense_grid(f, 20, chunk=100_000).grid)


def test_grid_axis_extends_past_the_box_with_the_same_spacing():
    ax = grid_axis(10, 1.0, count=14)
    assert torch.equal(ax[:11], torch.from_numpy(np.linspace(-1, 1, 11, dtype=np.float32)))
    assert torch.allclose(ax[11:], torch.tensor([1.2, 1.4, 1.6]))


def test_refinement_plan_halves_while_the_coarse_grid_stays_fine_enough():
    assert refinement_plan(384, 32) == (3, 384)  # 48 -> 96 -> 192 -> 384
    assert refinement_plan(256, 32) == (3, 256)
    assert refinement_plan(50, 16) == (1, 50)  # 25 -> 50
    assert refinement_plan(97, 16) == (2, 100)  # padded: 25 -> 50 -> 100, cut back to 97
    assert refinement_plan(40, 32) == (0, 40)  # too small to refine: dense


@pytest.mark.parametrize(
    "name, field",
    [
        ("ball", ball([0.1, -0.2, 0.05], 0.55)),
        ("ball and a speck", union(ball([0.3, 0, 0], 0.4), SPECK)),
        ("thin plate", plate(0.02)),
    ],
)
@pytest.mark.parametrize("resolution", [64, 97])
def test_coarse_to_fine_gives_the_dense_mesh_with_far_fewer_queries(name, field, resolution):
    dense = dense_grid(field, resolution, chunk=50_000)
    fine = coarse_to_fine_grid(field, resolution, min_resolution=16, chunk=50_000)
    assert fine.grid.shape == dense.grid.shape
    assert same_mesh(extract_mesh(fine.grid), extract_mesh(dense.grid)), name
    assert fine.queries < dense.queries / 2
    assert fine.queries == sum(q for _, q in fine.levels)
    # evaluated points hold exact values: wherever the two grids differ the coarse-to-fine value is interpolated,
    # on the same side of the level
    differ = fine.grid != dense.grid
    assert ((fine.grid[differ] > 0) == (dense.grid[differ] > 0)).all()


def test_the_band_is_what_finds_a_speck_between_coarse_samples():
    field = union(ball([0.3, 0, 0], 0.4), SPECK)
    dense = extract_mesh(dense_grid(field, 64, chunk=50_000).grid)
    assert len(dense.split(only_watertight=False)) == 2
    for band, found in [(0.0, False), (3.0, True)]:
        fine = coarse_to_fine_grid(field, 64, min_resolution=16, band=band, chunk=50_000)
        assert same_mesh(extract_mesh(fine.grid), dense) == found


def test_coarse_to_fine_follows_a_surface_the_band_alone_would_cut():
    """With band 0 only straddling cells are refined; closure must still recover the whole connected surface."""
    field = ball([0.05, 0.0, -0.1], 0.6)
    dense = dense_grid(field, 64, chunk=50_000)
    fine = coarse_to_fine_grid(field, 64, min_resolution=16, band=0.0, chunk=50_000)
    assert same_mesh(extract_mesh(fine.grid), extract_mesh(dense.grid))


def test_reference_mapping_reproduces_hy3dgen_conventions():
    """conventions.json: hy3dgen's MC + export_to_trimesh on an analytic sphere (positive inside), R=32."""
    conv = json.loads((FIXTURES / "parity" / "conventions.json").read_text())
    vol = dense_grid(lambda p: 0.5 - (p - torch.tensor([0.3, 0.0, 0.0])).norm(dim=-1), 32, bounds=1.01)
    mesh = extract_mesh(vol.grid, 1.01, 0.0, mapping="reference")
    assert mesh.volume == pytest.approx(conv["mesh_signed_volume"], rel=1e-6)
    assert np.allclose(mesh.vertices.mean(0), conv["mesh_centroid"], atol=1e-6)  # the vertex mean
    assert np.allclose(mesh.bounds[0], conv["mesh_bbox_min"], atol=1e-6)
    assert np.allclose(mesh.bounds[1], conv["mesh_bbox_max"], atol=1e-6)


def test_exact_mapping_puts_the_surface_where_the_field_is_zero_with_outward_normals():
    center = np.array([0.3, 0.0, 0.0])
    vol = dense_grid(lambda p: 0.5 - (p - torch.tensor([0.3, 0.0, 0.0])).norm(dim=-1), 32, bounds=1.01)
    mesh = extract_mesh(vol.grid, 1.01, 0.0, mapping="exact")
    radius = np.linalg.norm(mesh.vertices - center, axis=1)
    assert np.abs(radius - 0.5).max() < 0.01  # the reference mapping is off by up to R/(R+1) of the box
    assert np.allclose(mesh.bounds[:, 0], [-0.2, 0.8], atol=0.01)
    assert mesh.volume > 0 and mesh.volume == pytest.approx(4 / 3 * np.pi * 0.5**3, rel=0.02)
    outward = np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center - center)
    assert (outward > 0).all()


def test_a_field_without_surface_is_a_stage_error():
    with pytest.raises(StageError, match="no surface"):
        extract_mesh(torch.full((9, 9, 9), -3.0))
