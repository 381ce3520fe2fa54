"""Push-T: push a T-shaped block onto a fixed goal pose with a round pusher (gym-pusht physics).

Scene vector (5,): ``[agent_x, agent_y, block_x, block_y, block_angle]`` in gym-pusht's 512x512
workspace; the angle is wrapped to (-pi, pi]. Observations follow LeRobot's Push-T: ``observation.state``
is the pusher position (2,), ``observation.environment_state`` the T's 8 keypoints flattened (16,); the
pose is recovered from the keypoints exactly (up to rounding) by ``scene_of``. Action (2,): the pusher's target position, tracked by
gym-pusht's PD controller at 10 Hz (10 physics steps of 10 ms each).

Exact snapshots. gym-pusht's ``reset_to_state`` is not exact and its pymunk space cannot be copied:
contacts warm-start from impulses cached inside the space, so two spaces with the same bodies diverge
after the first contact. Here the physical state is a float vector (:data:`PHYS_DIM`) and every control
step builds a fresh space from it, so the next step depends on that vector alone: restoring a snapshot
and replaying the same actions reproduces every observation bit for bit (tests/tasks/test_pusht.py).
The price is that contact caches never persist across control steps (they still do across the 10
physics steps inside one), which makes this "real world" a very slightly different simulator from
stock gym-pusht. Measured cost: ~0.4 ms per control step.

Success (PROTOCOL.md): coverage of the goal T by the block >= 0.90; gym-pusht's own 0.95 is reported
too (``terminal_success``). ``progress`` is the coverage.
"""

from __future__ import annotations

import math
import os

import cv2
import gymnasium as gym
import numpy as np

from hiwm.errors import HiwmError
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, Task, TaskSpec, check_action
from hiwm.tasks.controls import ActionLayout
from hiwm.tasks.registry import TASKS

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pymunk  # noqa: E402
from gym_pusht.envs.pusht import PushTEnv as _GymPushT  # noqa: E402  (geometry builders only)

WORKSPACE = 512.0
GOAL_POSE = np.array([256.0, 256.0, math.pi / 4])
SUCCESS_COVERAGE = 0.90
GYM_SUCCESS_COVERAGE = 0.95
AGENT_RADIUS = 15.0
K_P, K_V, DT, SUBSTEPS = 100.0, 20.0, 0.01, 10
PHYS_DIM = 10  # agent x, y, vx, vy; block x, y, angle, vx, vy, angular velocity

# The T's outline in its body frame (gym-pusht's add_tee with scale 30, length 4).
T_OUTLINE = np.array(
    [(-60, 0), (60, 0), (60, 30), (15, 30), (15, 120), (-15, 120), (-15, 30), (-60, 30)], dtype=np.float64
)
# gym-pusht's 8 keypoints: the corners of its two rectangles, in the order its get_keypoints gives.
T_KEYPOINTS = np.array(
    [(-60, 0), (60, 0), (60, 30), (-60, 30), (-15, 30), (15, 30), (15, 120), (-15, 120)], dtype=np.float64
)

SPEC = TaskSpec(
    name="pusht",
    fps=10,
    max_steps=300,
    action_low=(0.0, 0.0),
    action_high=(WORKSPACE, WORKSPACE),
    agent_dim=2,
    env_dim=16,
    env_points=((0, 8, 2),),
    scene_dim=5,
    image_size=96,
    description="Push the T-shaped block onto the goal T.",
    # the picture: +x right, +y down; the scripted operator's thresholds (session/operators.py), in px and steps
    extra={"controls": ActionLayout(names=("x", "y"), units=("px", "px"), view=(0.0, WORKSPACE, 0.0, WORKSPACE),
                                    xy_speed=(2.0, 12.0, 40.0)),
           "operator": {"disagree": 60.0, "patience": 6, "stall_steps": 50, "stall_gain": 0.02, "warmup": 10,
                        "risk": True}},  # the T against a wall (at_risk) helped (reports/pusht-diffusion-state)
)


def wrap_angle(a):
    """Wrap to (-pi, pi]."""
    return -((-np.asarray(a) + np.pi) % (2 * np.pi) - np.pi)


def transform(points: np.ndarray, pose) -> np.ndarray:
    """points: (N, 2) in the body frame, pose (x, y, angle) -> (N, 2) in the world."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return points @ np.array([[c, s], [-s, c]]) + np.asarray(pose[:2])


def keypoints(pose) -> np.ndarray:
    """Block pose (..., 3) -> the T's 8 keypoints (..., 8, 2) in the world."""
    pose = np.asarray(pose, dtype=np.float64)
    c, s = np.cos(pose[..., 2])[..., None], np.sin(pose[..., 2])[..., None]
    x, y = T_KEYPOINTS[:, 0], T_KEYPOINTS[:, 1]
    return np.stack([x * c - y * s + pose[..., 0:1], x * s + y * c + pose[..., 1:2]], axis=-1)


_GOAL_KEYPOINTS = keypoints(GOAL_POSE)


def wall_gap(pose) -> np.ndarray:
    """Block pose(s) (..., 3) -> least distance from the T's outline to a wall (...,), px (< 0: overlapping).
    The keypoints are the outline's vertices, and a polygon's nearest point to a straight wall is a vertex."""
    pts = keypoints(pose)  # (..., 8, 2)
    return np.minimum(pts - _WALL_LO, _WALL_HI - pts).min(axis=(-2, -1))


def pose_error(pose) -> np.ndarray:
    """Block pose(s) (..., 3) -> mean keypoint distance to the goal pose (...,), px."""
    return np.linalg.norm(keypoints(pose) - _GOAL_KEYPOINTS, axis=-1).mean(-1)


def pose_from_keypoints(kp) -> np.ndarray:
    """The T's keypoints (..., 16) or (..., 8, 2) -> pose (..., 3); exact inverse of :func:`keypoints`."""
    kp = np.asarray(kp, dtype=np.float64).reshape(*np.shape(kp)[: -1 if np.shape(kp)[-1] == 16 else -2], 8, 2)
    d = kp[..., 1, :] - kp[..., 0, :]  # (120, 0) rotated
    angle = np.arctan2(d[..., 1], d[..., 0])
    c, s = np.cos(angle), np.sin(angle)
    mean_local = T_KEYPOINTS.mean(0)
    centre = kp.mean(-2)  # averaging all 8 points is better conditioned than using one
    px = centre[..., 0] - (mean_local[0] * c - mean_local[1] * s)
    py = centre[..., 1] - (mean_local[0] * s + mean_local[1] * c)
    return np.stack([px, py, wrap_angle(angle)], axis=-1)


# The T as its two rectangles (x0, x1, y0, y1) in the body frame: the bar and the stem of T_OUTLINE.
T_RECTS = ((-60.0, 60.0, 0.0, 30.0), (-15.0, 15.0, 30.0, 120.0))
_T_AREA = sum((x1 - x0) * (y1 - y0) for x0, x1, y0, y1 in T_RECTS)
_GOAL_X, _GOAL_Y, _GOAL_A = GOAL_POSE.tolist()
CLOSENESS_PX = 250.0  # keypoint error counted as "nowhere near" (initial errors are ~50-250 px)
# The T's outline this close to a wall is failure-prone: the expert's demonstrations almost never go there and the
# base policy fails most times it does (reports/pusht-diffusion-state).
RISK_WALL_PX = 20.0
_WALL_LO, _WALL_HI = 5.0, 506.0  # the inner faces of gym-pusht's walls
_GOAL_C, _GOAL_S = math.cos(_GOAL_A), math.sin(_GOAL_A)


def coverage(block_pose) -> float:
    """Fraction of the goal T covered by the block at this pose: area(goal T & block T) / area(T).

    Exact polygon clipping in plain Python floats (~20-45 us, against ~130 us for the same area through
    shapely/GEOS, which it matches to ~1e-15: tests/tasks/test_pusht.py). Both T's are unions of two
    rectangles with disjoint interiors, so the overlap is the sum of the four rectangle-rectangle overlaps;
    in the goal's frame the goal's rectangles are axis-aligned boxes, and each of the block's rectangles is
    clipped against each box (Sutherland-Hodgman) unless their bounding boxes settle it.
    """
    px, py, pa = np.asarray(block_pose, dtype=np.float64).tolist()
    dx, dy = px - _GOAL_X, py - _GOAL_Y
    ox, oy = _GOAL_C * dx + _GOAL_S * dy, -_GOAL_S * dx + _GOAL_C * dy  # the block's origin in the goal's frame
    c, s = math.cos(pa - _GOAL_A), math.sin(pa - _GOAL_A)
    total = 0.0
    for x0, x1, y0, y1 in T_RECTS:
        quad = [(ox + c * x - s * y, oy + s * x + c * y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        xs, ys = [q[0] for q in quad], [q[1] for q in quad]
        lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
        for gx0, gx1, gy0, gy1 in T_RECTS:
            if hi_x <= gx0 or lo_x >= gx1 or hi_y <= gy0 or lo_y >= gy1:
                continue  # no overlap
            poly = quad
            # each side of the box: (axis, bound, +1 keeps coordinates >= bound / -1 keeps <=, already inside?)
            for axis, bound, sign, inside in ((0, gx0, 1.0, lo_x >= gx0), (0, gx1, -1.0, hi_x <= gx1),
                                              (1, gy0, 1.0, lo_y >= gy0), (1, gy1, -1.0, hi_y <= gy1)):
                if not inside:
                    poly = _clip(poly, axis, bound, sign)
                    if not poly:
                        break
            if len(poly) >= 3:
                total += 0.5 * abs(sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, poly[1:] + poly[:1])))
    return total / _T_AREA


def _clip(poly: list, axis: int, bound: float, sign: float) -> list:
    """A convex polygon (list of (x, y)) cut to the half-plane sign * (p[axis] - bound) >= 0."""
    out = []
    prev = poly[-1]
    d_prev = sign * (prev[axis] - bound)
    for cur in poly:
        d_cur = sign * (cur[axis] - bound)
        if (d_cur >= 0) != (d_prev >= 0):  # the edge crosses the line: keep the crossing point
            t = d_prev / (d_prev - d_cur)
            out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
        if d_cur >= 0:
            out.append(cur)
        prev, d_prev = cur, d_cur
    return out


# ---------------------------------------------------------------- physics ----
def build_space(phys: np.ndarray) -> tuple[pymunk.Space, pymunk.Body, pymunk.Body]:
    """A fresh gym-pusht space holding exactly this physical state (10,)."""
    space = pymunk.Space()
    space.gravity = 0, 0
    space.damping = 0.0  # gym-pusht's default: the block is quasi-static, it moves only while pushed
    walls = [((5, 506), (5, 5)), ((5, 5), (506, 5)), ((506, 5), (506, 506)), ((5, 506), (506, 506))]
    space.add(*[_GymPushT.add_segment(space, a, b, 2) for a, b in walls])
    agent = _GymPushT.add_circle(space, (256, 400), AGENT_RADIUS)
    block, _ = _GymPushT.add_tee(space, (256, 300), 0)
    agent.position = (phys[0], phys[1])
    agent.velocity = (phys[2], phys[3])
    block.angle = phys[6]  # angle first: pymunk keeps the centre of gravity fixed when rotating
    block.position = (phys[4], phys[5])
    block.velocity = (phys[7], phys[8])
    block.angular_velocity = phys[9]
    return space, agent, block


def read_space(agent: pymunk.Body, block: pymunk.Body) -> np.ndarray:
    return np.array([*agent.position, *agent.velocity, *block.position, block.angle, *block.velocity,
                     block.angular_velocity], dtype=np.float64)


def advance(phys: np.ndarray, target: np.ndarray) -> np.ndarray:
    """One 10 Hz control step: phys (10,), target (2,) -> next phys (10,). Depends on its inputs only."""
    space, agent, block = build_space(phys)
    tx, ty = float(target[0]), float(target[1])
    for _ in range(SUBSTEPS):
        vx, vy = agent.velocity
        px, py = agent.position
        agent.velocity = (vx + (K_P * (tx - px) - K_V * vx) * DT, vy + (K_P * (ty - py) - K_V * vy) * DT)
        space.step(DT)
    return read_space(agent, block)


def phys_to_scene(phys: np.ndarray) -> np.ndarray:
    return np.array([phys[0], phys[1], phys[4], phys[5], wrap_angle(phys[6])], dtype=np.float64)


def scene_to_phys(scene: np.ndarray) -> np.ndarray:
    """A scene at rest (velocities zero): (5,) -> (10,)."""
    return np.array([scene[0], scene[1], 0, 0, scene[2], scene[3], scene[4], 0, 0, 0], dtype=np.float64)


# ---------------------------------------------------------------- drawing ----
_COLORS = {"goal": (144, 238, 144), "block": (119, 136, 153), "agent": (65, 105, 225)}
_SHIFT = 4  # sub-pixel precision for cv2


def _fill(img: np.ndarray, world_pts: np.ndarray, scale: float, color) -> None:
    pts = np.round(world_pts * scale * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(img, [pts], color, lineType=cv2.LINE_AA, shift=_SHIFT)


def draw(scene: np.ndarray, size: int = 96, action: np.ndarray | None = None) -> np.ndarray:
    """scene (5,) -> (size, size, 3) uint8; optionally marks the action target with a cross."""
    img = np.full((size, size, 3), 255, np.uint8)
    scale = size / WORKSPACE
    _fill(img, transform(T_OUTLINE, GOAL_POSE), scale, _COLORS["goal"])
    _fill(img, transform(T_OUTLINE, scene[2:5]), scale, _COLORS["block"])
    c = np.round(np.asarray(scene[:2]) * scale * (1 << _SHIFT)).astype(np.int32)
    r = int(round(AGENT_RADIUS * scale * (1 << _SHIFT)))
    cv2.circle(img, tuple(int(v) for v in c), r, _COLORS["agent"], -1, cv2.LINE_AA, _SHIFT)
    if action is not None:
        a = tuple(int(v) for v in np.round(np.asarray(action) * scale))
        cv2.drawMarker(img, a, (255, 0, 0), cv2.MARKER_CROSS, max(3, size // 24), max(1, size // 192))
    return img


# ------------------------------------------------------------------- task ----
@TASKS.register("pusht")
class PushTTask(Task):
    """The Push-T simulator ("the real world") with exact snapshots."""

    spec_ = SPEC

    def __init__(self, images: bool = True):
        super().__init__(images)
        self.action_space = gym.spaces.Box(0.0, WORKSPACE, shape=(2,), dtype=np.float64)
        obs_spaces = {
            STATE_KEY: gym.spaces.Box(0.0, WORKSPACE, shape=(2,), dtype=np.float64),
            ENV_KEY: gym.spaces.Box(-np.inf, np.inf, shape=(16,), dtype=np.float64),
        }
        if images:
            obs_spaces[IMAGE_KEY] = gym.spaces.Box(0, 255, shape=(96, 96, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(obs_spaces)
        self._phys = scene_to_phys(self.initial_scene(0))
        self._steps = 0

    # scene functions
    @classmethod
    def observe_lowdim(cls, scene: np.ndarray) -> dict:
        scene = np.asarray(scene, dtype=np.float64)
        kp = keypoints(scene[..., 2:5])
        return {STATE_KEY: scene[..., :2].copy(), ENV_KEY: kp.reshape(*kp.shape[:-2], 16)}

    @classmethod
    def scene_of(cls, obs: dict) -> np.ndarray:
        agent = np.asarray(obs[STATE_KEY], dtype=np.float64)
        return np.concatenate([agent, pose_from_keypoints(obs[ENV_KEY])], axis=-1)

    @classmethod
    def progress(cls, scene: np.ndarray) -> float:
        return coverage(np.asarray(scene)[2:5])

    @classmethod
    def closeness(cls, scene: np.ndarray) -> float:
        """1 - (mean keypoint distance to the goal pose) / CLOSENESS_PX, floored at 0: unlike coverage it keeps
        changing while the T is still far from the goal, so a stall in it is a stall of the push."""
        return max(0.0, 1.0 - float(pose_error(np.asarray(scene)[2:5])) / CLOSENESS_PX)

    @classmethod
    def at_risk(cls, scene: np.ndarray) -> bool:
        """The T within RISK_WALL_PX of a wall: pushed there, the policy rarely gets it out again."""
        return bool(wall_gap(np.asarray(scene)[2:5]) < RISK_WALL_PX)

    @classmethod
    def is_success(cls, scene: np.ndarray) -> bool:
        return cls.progress(scene) >= SUCCESS_COVERAGE

    @classmethod
    def judge(cls, scene: np.ndarray) -> tuple[float, bool, bool]:
        c = coverage(np.asarray(scene)[2:5])
        return c, c >= SUCCESS_COVERAGE, c >= GYM_SUCCESS_COVERAGE

    @classmethod
    def is_terminal_success(cls, scene: np.ndarray) -> bool:
        return cls.progress(scene) >= GYM_SUCCESS_COVERAGE

    @classmethod
    def render_scene(cls, scene: np.ndarray, size: int = 96) -> np.ndarray:
        return draw(np.asarray(scene, dtype=np.float64), size)

    @classmethod
    def initial_scene(cls, seed: int) -> np.ndarray:
        """gym-pusht's own initial-state draw for this seed, after its settling physics step."""
        if seed is None or int(seed) < 0:
            raise HiwmError(f"pusht: seed must be a non-negative integer, got {seed!r}")
        rng, _ = gym.utils.seeding.np_random(int(seed))
        ax, ay = rng.integers(50, 450), rng.integers(50, 450)
        bx, by = rng.integers(100, 400), rng.integers(100, 400)
        angle = rng.uniform(-np.pi, np.pi)
        space, agent, block = build_space(np.zeros(PHYS_DIM))
        agent.position = (float(ax), float(ay))
        block.position = (float(bx), float(by))  # gym-pusht's legacy order: position, then angle
        block.angle = float(angle)
        space.step(DT)
        return phys_to_scene(read_space(agent, block))

    @classmethod
    def snapshot_at_rest(cls, scene: np.ndarray) -> np.ndarray:
        """The simulator snapshot (``get_state``) of this scene with nothing moving, at step 0."""
        return np.concatenate([scene_to_phys(np.asarray(scene, dtype=np.float64)), [0.0]])

    # simulator
    def reset(self, seed: int | None = None, options: dict | None = None):
        super(Task, self).reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self._phys = scene_to_phys(self.initial_scene(seed))
        self._steps = 0
        return self._obs(), self.info()

    def step(self, action):
        action = check_action(action, SPEC)
        if action.ndim != 1:
            raise HiwmError(f"pusht: step takes one action of shape (2,), got {action.shape}")
        self._phys = advance(self._phys, action)
        self._steps += 1
        info = self.info()
        terminated = info["terminal_success"]
        truncated = self._steps >= SPEC.max_steps
        return self._obs(), info["progress"], terminated, truncated, info

    def info(self) -> dict:
        c, ok, ok95 = self.judge(self.scene())
        return {"progress": c, "is_success": ok, "terminal_success": ok95}

    def get_state(self) -> np.ndarray:
        return np.concatenate([self._phys, [self._steps]])

    def set_state(self, state: np.ndarray) -> dict:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (PHYS_DIM + 1,) or not np.all(np.isfinite(state)):
            raise HiwmError(f"pusht: a snapshot is a finite vector of shape ({PHYS_DIM + 1},), got {state.shape}")
        self._phys = state[:PHYS_DIM].copy()
        self._steps = int(state[PHYS_DIM])
        return self._obs()

    def scene(self) -> np.ndarray:
        return phys_to_scene(self._phys)

    def _obs(self) -> dict:
        return self.observe(self.scene(), images=self.images)
