"""Route Rope: lead a rope lying on the table through two clips, clip 1 first, with a gripper.

**Physics** (MuJoCo, :mod:`hiwm.tasks.mujoco_gripper` for the gripper, grasp and snapshots). The rope is
a 1-D ``flexcomp``: 25 nodes (24 segments of 2 cm, 48 cm long, radius 6 mm, 50 g) whose segment lengths
are held by flex edge equality constraints. It has no bending stiffness, a soft cord (MuJoCo 4.0's flex
elasticity needs explicit or ``discrete`` integration, and a 1-D flex with it blew up at this step
here), and no self collision (it would cost speed that routing does not need). A clip is a mocap body carrying two
posts (cylinders, radius 8 mm, 4 cm tall) 5 cm apart centre to centre, so the slot between them is
3.4 cm wide; the rope's 1.2 cm passes, and it wraps around a post when pulled sideways. Physics step
5 ms, 20 substeps per 10 Hz control step.

**Scene vector** (87,) and observation:
    [0:4]    gripper x, y, z, closed                 = ``observation.state`` (4,)
    [4:12]   posts: clip 1 a, clip 1 b, clip 2 a, clip 2 b (x, y each)  } = ``observation.environment_state``
    [12:87]  rope nodes 0..24 (x, y, z each), node 0 the tail, node 24 the head  } (83,)
The clips are in the observation because they move with the seed; they never move within an episode.

**Success** (geometric, on the scene alone). Each clip's *gate* is the segment between its two post
centres. Rope segment i (nodes i to i+1) *passes* a gate when its top-down projection crosses the gate
segment and the rope's height at the crossing is below the posts' tops (so a rope held above the clip
does not count). The rope is routed when some segment i1 passes clip 1 and some segment i2 passes clip
2 with i1 < i2: walked from tail to head, the rope goes through clip 1 and then through clip 2. This is
the terminal success too (the episode ends early on it). ``progress`` = (k + 0.9 c) / 2, with k the
number of clips passed in order (0, 1 or 2; 1 if clip 1 is passed) and c in [0, 1] how close the head
is to the next clip's gate centre (1 - distance / 30 cm), so progress is 1 exactly on success.

**Start states** (seeded). Drawn in the route's own frame: clip 2 12-18 cm beyond clip 1, each gate
turned up to 26 degrees from facing along the route; the rope a random smooth curve (segment headings
a random walk) lying entirely at least 4 cm behind clip 1's gate line, its head 7-14 cm before clip 1
and up to 8 cm to the side, at least 3 cm from every post, not crossing itself. The whole layout is then
turned to a random direction and shifted to a random place where the rope lies within 23 cm and the
posts within 22 cm of the table's centre lines. The gripper starts open, 8 cm above a random point.

**Pictures** (``render_scene``): the gate lines faint, clip 1's posts green, clip 2's purple, the rope
blue (lighter where lifted) with its head red, the gripper as an orange ring that grows with height and
is filled when closed.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from hiwm.errors import HiwmError
from hiwm.tasks import raster
from hiwm.tasks.base import TaskSpec
from hiwm.tasks.mujoco_gripper import (ACTION_HIGH, ACTION_LOW, AGENT_DIM, GRIPPER_CONTROLS, OPERATOR_DEFAULTS,
                                        TABLE_XML, WORLD_XML, GripperTask, connect_xml)
from hiwm.tasks.registry import TASKS

N_NODES = 25
SPACING = 0.02
RADIUS = 0.006
POST_R, POST_H = 0.008, 0.04
GATE_HALF = 0.025                  # post centre to clip centre, m
POSTS = slice(4, 12)
NODES = slice(12, 12 + 3 * N_NODES)
SCENE_DIM = NODES.stop
HEAD = N_NODES - 1
CLOSE_RANGE = 0.3                  # progress: head-to-gate distance at which closeness reaches 0, m

SPEC = TaskSpec(
    name="rope-route",
    fps=10,
    max_steps=300,
    action_low=ACTION_LOW,
    action_high=ACTION_HIGH,
    agent_dim=AGENT_DIM,
    env_dim=SCENE_DIM - AGENT_DIM,
    env_points=((0, 4, 2), (8, N_NODES, 3)),
    scene_dim=SCENE_DIM,
    image_size=96,
    description="Route the rope through clip 1, then through clip 2.",
    extra={"controls": GRIPPER_CONTROLS, "operator": OPERATOR_DEFAULTS},
)


# ------------------------------------------------------------ geometry ----
def nodes_of(scene: np.ndarray) -> np.ndarray:
    """scene (..., 87) -> rope nodes (..., 25, 3)."""
    s = np.asarray(scene, dtype=np.float64)
    return s[..., NODES].reshape(*s.shape[:-1], N_NODES, 3)


def gates_of(scene: np.ndarray) -> np.ndarray:
    """scene (..., 87) -> gates (..., 2, 2, 2): [clip, post a/b, xy]."""
    s = np.asarray(scene, dtype=np.float64)
    return s[..., POSTS].reshape(*s.shape[:-1], 2, 2, 2)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def gate_passes(nodes: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """nodes (N, 3), gate (2, 2) -> (N-1,) bool: segment i crosses the gate below the posts' tops."""
    p, q = nodes[:-1], nodes[1:]
    a, b = gate[0], gate[1]
    o1, o2 = _cross(b - a, p[:, :2] - a), _cross(b - a, q[:, :2] - a)
    o3, o4 = _cross(q[:, :2] - p[:, :2], a - p[:, :2]), _cross(q[:, :2] - p[:, :2], b - p[:, :2])
    # a sign change, zero counting as positive: a node exactly on the gate line counts for one segment
    crosses = ((o1 < 0) != (o2 < 0)) & ((o3 < 0) != (o4 < 0))
    t = np.divide(o1, o1 - o2, out=np.zeros_like(o1), where=crosses)
    z = p[:, 2] + t * (q[:, 2] - p[:, 2])
    return crosses & (z < POST_H)


def route_status(scene: np.ndarray) -> tuple[int, float]:
    """(clips passed in order: 0, 1 or 2; closeness of the head to the next gate in [0, 1])."""
    nodes, gates = nodes_of(scene), gates_of(scene)
    first = np.flatnonzero(gate_passes(nodes, gates[0]))
    second = np.flatnonzero(gate_passes(nodes, gates[1]))
    if first.size and second.size and first.min() < second.max():
        return 2, 1.0
    k = 1 if first.size else 0
    dist = float(np.linalg.norm(nodes[HEAD, :2] - gates[k].mean(0)))
    return k, max(0.0, 1.0 - dist / CLOSE_RANGE)


def _rot(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _layout(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """One draw of (posts (8,), nodes (25, 3)), or None when it breaks a rule of the module docstring.

    Drawn in the route's own frame (clip 1 at the origin, clip 2 along +x), then turned by a random
    angle and shifted to a random place where everything lies on the table.
    """
    c2 = np.array([rng.uniform(0.12, 0.18), 0.0])
    posts = []
    for c in (np.zeros(2), c2):
        across = _rot(np.array([0.0, 1.0]), rng.uniform(-0.45, 0.45))
        posts += [c - across * GATE_HALF, c + across * GATE_HALF]
    posts = np.array(posts)
    head = np.array([-rng.uniform(0.07, 0.14), rng.uniform(-0.08, 0.08)])
    heading = math.pi + rng.uniform(-0.9, 0.9) + np.cumsum(rng.uniform(-0.08, 0.08) + rng.normal(0, 0.18, HEAD))
    steps = SPACING * np.stack([np.cos(heading), np.sin(heading)], axis=1)  # from the head towards the tail
    xy = head + np.vstack([np.zeros(2), np.cumsum(steps, axis=0)])[::-1]
    clear = np.linalg.norm(xy[:, None] - posts[None], axis=-1).min() >= 0.03
    if not ((xy[:, 0] <= -0.04).all() and clear and shapely.LineString(xy).is_simple):
        return None
    phi = rng.uniform(-math.pi, math.pi)
    rot = np.array([[math.cos(phi), math.sin(phi)], [-math.sin(phi), math.cos(phi)]])  # row vectors @ rot
    xy, posts = xy @ rot, posts @ rot
    lo = np.maximum(-0.23 - xy.min(0), -0.22 - posts.min(0))
    hi = np.minimum(0.23 - xy.max(0), 0.22 - posts.max(0))
    if np.any(lo > hi):
        return None
    shift = rng.uniform(lo, hi)
    return (posts + shift).reshape(-1), np.column_stack([xy + shift, np.full(N_NODES, RADIUS)])


# ------------------------------------------------------------- drawing ----
_CLIP_RGB = ((40, 140, 70), (150, 60, 160))
_ROPE_RGB, _HEAD_RGB = (40, 70, 170), (210, 40, 40)


def draw(scene: np.ndarray, size: int = 96) -> np.ndarray:
    """scene (87,) -> (size, size, 3) uint8: gates, posts, rope (lighter where lifted), head, gripper."""
    img = raster.canvas(size)
    for (a, b), rgb in zip(gates_of(scene), _CLIP_RGB):
        raster.segment(img, a, b, raster.lighten(rgb, 0.6), 1)
        for p in (a, b):
            raster.disc(img, p, POST_R, rgb, min_px=1.2)
    nodes = nodes_of(scene)
    width = max(1, int(round(raster.px_len(2 * RADIUS, size))))
    lift = np.clip(4.0 * (nodes[:-1, 2] + nodes[1:, 2] - 2 * RADIUS), 0.0, 1.0)[:, None]  # lighter where lifted
    base = np.array(_ROPE_RGB, dtype=np.float64)
    raster.chain(img, nodes, np.round(base + (255.0 - base) * lift).astype(int), width)
    raster.disc(img, nodes[HEAD], RADIUS * 1.2, _HEAD_RGB, min_px=1.2)
    raster.gripper(img, np.asarray(scene)[:AGENT_DIM])
    return img


# ---------------------------------------------------------------- task ----
@TASKS.register("rope-route")
class RopeRouteTask(GripperTask):
    """The Route Rope simulator; see the module docstring."""

    spec_ = SPEC
    DT = 0.005
    FLEX = "rope"
    N_VERTS = N_NODES

    @classmethod
    def xml(cls) -> str:
        clips = "".join(
            f'<body name="clip{k}" mocap="true" pos="0 {0.1 * k} 0">'
            + "".join(f'<geom type="cylinder" size="{POST_R} {POST_H / 2}" pos="{s * GATE_HALF} 0 {POST_H / 2}" '
                      f'rgba="{" ".join(str(c / 255) for c in _CLIP_RGB[k - 1])} 1"/>' for s in (-1, 1))
            + "</body>" for k in (1, 2))
        return f"""<mujoco model="rope-route">
  <option timestep="{cls.DT}" integrator="implicitfast"/>
  <size nuserdata="1"/>
  {TABLE_XML}
  <worldbody>
    {WORLD_XML}
    {clips}
    <flexcomp name="rope" type="grid" count="{N_NODES} 1 1" spacing="{SPACING} 1 1" dim="1" radius="{RADIUS}"
              mass="0.05" pos="0 0 {RADIUS}" rgba="{" ".join(str(c / 255) for c in _ROPE_RGB)} 1">
      <edge equality="true" damping="0.01"/>
      <contact selfcollide="none" condim="3" friction="0.5"/>
    </flexcomp>
  </worldbody>
  <equality>{connect_xml("rope", N_NODES)}</equality>
</mujoco>"""

    # scene functions
    @classmethod
    def progress(cls, scene: np.ndarray) -> float:
        k, closeness = route_status(scene)
        return 1.0 if k == 2 else (k + 0.9 * closeness) / 2

    @classmethod
    def is_success(cls, scene: np.ndarray) -> bool:
        return route_status(scene)[0] == 2

    # the gripper, the four posts and every rope node
    policy_frame_xy = ((0, *range(POSTS.start, POSTS.stop, 2), *range(NODES.start, NODES.stop, 3)), (0,))

    @classmethod
    def policy_frame(cls, scene):
        """The route's frame: clip 1's centre at the origin, x towards clip 2's centre (torch (..., 87))."""
        posts = scene[..., POSTS]
        c1, c2 = (posts[..., 0:2] + posts[..., 2:4]) / 2, (posts[..., 4:6] + posts[..., 6:8]) / 2
        d = c2 - c1
        return c1, d / d.norm(dim=-1, keepdim=True).clamp(min=1e-9)

    @classmethod
    def judge(cls, scene: np.ndarray) -> tuple[float, bool, bool]:
        k, closeness = route_status(scene)
        ok = k == 2
        return (1.0 if ok else (k + 0.9 * closeness) / 2), ok, ok

    @classmethod
    def play_points(cls, scene: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nodes = nodes_of(scene)
        return np.asarray(scene, dtype=np.float64)[:2], nodes[:, :2]

    @classmethod
    def render_scene(cls, scene: np.ndarray, size: int = 96) -> np.ndarray:
        return draw(np.asarray(scene, dtype=np.float64), size)

    @classmethod
    def initial_scene(cls, seed: int) -> np.ndarray:
        if seed is None or int(seed) < 0:
            raise HiwmError(f"rope-route: seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(int(seed))
        for _ in range(10_000):
            layout = _layout(rng)
            if layout is not None:
                break
        else:  # pragma: no cover - the rules accept roughly one draw in ten
            raise RuntimeError(f"rope-route: no valid layout for seed {seed}")
        posts, nodes = layout
        gripper = [*rng.uniform(-0.2, 0.2, 2), 0.08, 0.0]
        return np.concatenate([gripper, posts, nodes.reshape(-1)])

    # simulator
    def _start(self, seed: int) -> None:
        scene = self.initial_scene(seed)
        self._reset_data(scene[:3])
        for k, (a, b) in enumerate(gates_of(scene)):
            mocap = self.m.body_mocapid[self.m.body(f"clip{k + 1}").id]
            yaw = math.atan2(b[1] - a[1], b[0] - a[0])
            self.d.mocap_pos[mocap] = [*(a + b) / 2, 0.0]
            self.d.mocap_quat[mocap] = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        self.set_vertices(nodes_of(scene))

    def scene(self) -> np.ndarray:
        posts = []
        for k in (1, 2):
            mocap = self.m.body_mocapid[self.m.body(f"clip{k}").id]
            w, _, _, z = self.d.mocap_quat[mocap]
            yaw = 2 * math.atan2(z, w)
            along = np.array([math.cos(yaw), math.sin(yaw)]) * GATE_HALF
            c = self.d.mocap_pos[mocap, :2]
            posts += [c - along, c + along]
        return np.concatenate([self.agent(), np.concatenate(posts), self.vertices().reshape(-1)])
