"""Fold Towel: fold a square towel along a diagonal, one corner onto the opposite one, with a gripper.

**Physics** (MuJoCo, :mod:`hiwm.tasks.mujoco_gripper` for the gripper, grasp and snapshots). The towel
is a 2-D ``flexcomp`` of 9 x 9 vertices, 3 cm apart (24 cm square, 50 g, vertex radius 3 mm), whose
edge lengths are held by flex edge equality constraints (inextensible, no bending stiffness). Its
triangles follow a "union jack" pattern (each quad's diagonal alternates), so both main diagonals of
the square are mesh edges: a diagonal fold creases along edges. With the one-diagonal grid that a
``grid`` flexcomp makes, a fold across the diagonals can only zig-zag, which shortens the crease and
drags the side corners inwards (measured: 7 cm). The towel does not collide with itself: self
collision made it about 5x slower (several hundred vertex-triangle contacts once folded), so a folded
layer rests on the table through the layer below. Physics step 10 ms, 10 substeps per control step.

**Scene vector** (31,) and observation:
    [0:4]   gripper x, y, z, closed                                      = ``observation.state`` (4,)
    [4:31]  9 keypoints (x, y, z each), the 3 x 3 sub-grid of vertices    = ``observation.environment_state`` (27,)
            in row-major order K[a][b], a along the towel's own x axis, b along its y axis (a, b in 0..2):
            K00, K02, K20, K22 are the corners, K01, K10, K12, K21 the edge midpoints, K11 the centre.

**Success** (on the scene alone): a diagonal fold, i.e. (1) for one diagonal, its two corners (K00 and
K22, or K02 and K20) are within 15% of the side length (3.6 cm) of each other, in 3-D, and (2) the
projected (top-down) area is 40-65% of the flat area. The area is that of the keypoint mesh: the union
of the four quads between the keypoints, each counted as the union of its four corner triangles (so
it does not depend on which diagonal splits a quad); it is the exact area for a flat towel and for a
perfect diagonal fold (50%). Which corner was grasped is not in the scene, so either diagonal counts.
``progress`` = 0.95 (1 - gap / diagonal) with gap the smaller corner-to-corner distance, and 1 on success.

**Start states** (seeded): the towel lies flat, its centre within 6 cm of the table's centre, turned by
up to 45 degrees either way (the square looks the same every 90 degrees, so this is every orientation;
K00 stays the corner nearest the table's lower left); the gripper open, 8 cm above a random point.

**Pictures** (``render_scene``): the keypoints are interpolated by a biquadratic patch (exact for a flat
towel), drawn as triangles from low to high, the towel's upper side light and its underside darker, so a
folded flap shows up even though it rests at the height of the layer below.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import shapely

from hiwm.errors import HiwmError
from hiwm.tasks import raster
from hiwm.tasks.base import TaskSpec
from hiwm.tasks.mujoco_gripper import (ACTION_HIGH, ACTION_LOW, AGENT_DIM, GRIPPER_CONTROLS, OPERATOR_DEFAULTS,
                                        TABLE_XML, WORLD_XML, GripperTask, connect_xml)
from hiwm.tasks.registry import TASKS

N_SIDE = 9
SPACING = 0.03
SIDE = SPACING * (N_SIDE - 1)
RADIUS = 0.003
N_VERTS = N_SIDE * N_SIDE
KP_GRID = (0, N_SIDE // 2, N_SIDE - 1)
KP_INDEX = np.array([a * N_SIDE + b for a in KP_GRID for b in KP_GRID])  # vertex index of K[a][b]
SCENE_DIM = AGENT_DIM + 27
CORNER_TOL = 0.15
AREA_RANGE = (0.40, 0.65)

SPEC = TaskSpec(
    name="towel-fold",
    fps=10,
    max_steps=300,
    action_low=ACTION_LOW,
    action_high=ACTION_HIGH,
    agent_dim=AGENT_DIM,
    env_dim=27,
    env_points=((0, 9, 3),),
    scene_dim=SCENE_DIM,
    image_size=96,
    description="Fold the towel in half along a diagonal, one corner onto the opposite one.",
    extra={"controls": GRIPPER_CONTROLS, "operator": OPERATOR_DEFAULTS},
)


# ------------------------------------------------------------ geometry ----
def keypoints_of(scene: np.ndarray) -> np.ndarray:
    """scene (..., 31) -> keypoints (..., 3, 3, 3) indexed [a, b, xyz]."""
    s = np.asarray(scene, dtype=np.float64)
    return s[..., AGENT_DIM:].reshape(*s.shape[:-1], 3, 3, 3)


def corner_gap(kp: np.ndarray) -> float:
    """kp (3, 3, 3) -> the smaller distance between the two corners of a diagonal, m."""
    return float(min(np.linalg.norm(kp[0, 0] - kp[2, 2]), np.linalg.norm(kp[0, 2] - kp[2, 0])))


def projected_area(kp: np.ndarray) -> float:
    """kp (3, 3, 3) -> area of the keypoint mesh seen from above, m^2 (see the module docstring)."""
    xy = kp[..., :2]
    tris = []
    for a in range(2):
        for b in range(2):
            q = np.array([xy[a, b], xy[a + 1, b], xy[a + 1, b + 1], xy[a, b + 1]])
            tris += [q[[0, 1, 2]], q[[0, 2, 3]], q[[0, 1, 3]], q[[1, 2, 3]]]
    polys = shapely.polygons(np.array(tris))
    return float(shapely.union_all(shapely.make_valid(polys)).area)


def fold_status(scene: np.ndarray) -> tuple[float, float]:
    """(corner gap / side, projected area / flat area)."""
    kp = keypoints_of(scene)
    return corner_gap(kp) / SIDE, projected_area(kp) / SIDE**2


def flat_vertices(centre, yaw: float) -> np.ndarray:
    """The flat towel's vertices (81, 3), vertex i * 9 + j at local ((i - 4), (j - 4)) * 3 cm."""
    g = (np.arange(N_SIDE) - (N_SIDE - 1) / 2) * SPACING
    local = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    c, s = math.cos(yaw), math.sin(yaw)
    xy = local @ np.array([[c, s], [-s, c]]) + np.asarray(centre)
    return np.column_stack([xy, np.full(N_VERTS, RADIUS)])


def union_jack() -> str:
    """Triangles of the 9 x 9 grid, each quad's diagonal alternating (MJCF ``element`` text)."""
    tris = []
    for i in range(N_SIDE - 1):
        for j in range(N_SIDE - 1):
            a, b, c, d = i * N_SIDE + j, (i + 1) * N_SIDE + j, (i + 1) * N_SIDE + j + 1, i * N_SIDE + j + 1
            tris += [a, b, c, a, c, d] if (i + j) % 2 == 0 else [a, b, d, b, c, d]
    return " ".join(map(str, tris))


# ------------------------------------------------------------- drawing ----
_TOP_RGB, _UNDER_RGB = (70, 140, 200), (35, 85, 140)
_PATCH = 9  # samples per side of the interpolated patch
_t = np.linspace(0.0, 1.0, _PATCH)
_BASIS = np.stack([2 * (_t - 0.5) * (_t - 1), -4 * _t * (_t - 1), 2 * _t * (_t - 0.5)], axis=1)  # (P, 3)
_TRIS = np.array([t for i in range(_PATCH - 1) for j in range(_PATCH - 1)
                  for t in (((i, j), (i + 1, j), (i + 1, j + 1)), ((i, j), (i + 1, j + 1), (i, j + 1)))])  # (T, 3, 2)


def draw(scene: np.ndarray, size: int = 96) -> np.ndarray:
    """scene (31,) -> (size, size, 3) uint8 (see the module docstring)."""
    img = raster.canvas(size)
    surf = np.einsum("ia,abk,jb->ijk", _BASIS, keypoints_of(scene), _BASIS)  # (P, P, 3)
    px = raster.to_px(surf[..., :2], size)
    pts = px[_TRIS[..., 0], _TRIS[..., 1]]  # (T, 3, 2)
    z = surf[_TRIS[..., 0], _TRIS[..., 1], 2].mean(1)
    e1, e2 = pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0]
    under = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0  # image rows point down: the upper side turns clockwise
    base = np.where(under[:, None], np.array(_UNDER_RGB, float), np.array(_TOP_RGB, float))
    lift = np.clip(5.0 * (z - RADIUS), 0.0, 1.0)[:, None]
    colours = np.round(base + (255.0 - base) * lift).astype(int).tolist()
    fixed = raster.fixed(pts)
    for k in np.lexsort((under, z)):  # low to high; at equal height the underside (a folded flap) on top
        cv2.fillConvexPoly(img, fixed[k], colours[k], cv2.LINE_AA, raster.SHIFT)
    raster.gripper(img, np.asarray(scene)[:AGENT_DIM])
    return img


# ---------------------------------------------------------------- task ----
@TASKS.register("towel-fold")
class TowelFoldTask(GripperTask):
    """The Fold Towel simulator; see the module docstring."""

    spec_ = SPEC
    DT = 0.01
    FLEX = "towel"
    N_VERTS = N_VERTS

    @classmethod
    def xml(cls) -> str:
        points = " ".join(f"{x:.6g} {y:.6g} 0" for x, y in flat_vertices((0.0, 0.0), 0.0)[:, :2])
        return f"""<mujoco model="towel-fold">
  <option timestep="{cls.DT}" integrator="implicitfast"/>
  <size nuserdata="1"/>
  {TABLE_XML}
  <worldbody>
    {WORLD_XML}
    <flexcomp name="towel" type="direct" dim="2" radius="{RADIUS}" mass="0.05" pos="0 0 {RADIUS}"
              point="{points}" element="{union_jack()}" rgba="{" ".join(str(c / 255) for c in _TOP_RGB)} 1">
      <edge equality="true" damping="0.001"/>
      <contact selfcollide="none" condim="3" friction="0.8"/>
    </flexcomp>
  </worldbody>
  <equality>{connect_xml("towel", N_VERTS)}</equality>
</mujoco>"""

    # scene functions
    @classmethod
    def judge(cls, scene: np.ndarray) -> tuple[float, bool, bool]:
        gap, area = fold_status(scene)
        ok = gap <= CORNER_TOL and AREA_RANGE[0] <= area <= AREA_RANGE[1]
        progress = 1.0 if ok else 0.95 * float(np.clip(1.0 - gap / math.sqrt(2.0), 0.0, 1.0))
        return progress, ok, ok

    @classmethod
    def progress(cls, scene: np.ndarray) -> float:
        return cls.judge(scene)[0]

    @classmethod
    def is_success(cls, scene: np.ndarray) -> bool:
        return cls.judge(scene)[1]

    @classmethod
    def play_points(cls, scene: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(scene, dtype=np.float64)[:2], keypoints_of(scene)[..., :2].reshape(9, 2)

    @classmethod
    def render_scene(cls, scene: np.ndarray, size: int = 96) -> np.ndarray:
        return draw(np.asarray(scene, dtype=np.float64), size)

    @classmethod
    def start_pose(cls, seed: int) -> tuple[np.ndarray, float, np.ndarray]:
        """(towel centre (2,), yaw, gripper [x, y, z, closed]) of this seed."""
        if seed is None or int(seed) < 0:
            raise HiwmError(f"towel-fold: seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(int(seed))
        centre, yaw = rng.uniform(-0.06, 0.06, 2), rng.uniform(-math.pi / 4, math.pi / 4)
        return centre, yaw, np.array([*rng.uniform(-0.2, 0.2, 2), 0.08, 0.0])

    @classmethod
    def initial_scene(cls, seed: int) -> np.ndarray:
        centre, yaw, gripper = cls.start_pose(seed)
        return np.concatenate([gripper, flat_vertices(centre, yaw)[KP_INDEX].reshape(-1)])

    # simulator
    def _start(self, seed: int) -> None:
        centre, yaw, gripper = self.start_pose(seed)
        self._reset_data(gripper[:3])
        self.set_vertices(flat_vertices(centre, yaw))

    def scene(self) -> np.ndarray:
        return np.concatenate([self.agent(), self.vertices()[KP_INDEX].reshape(-1)])
