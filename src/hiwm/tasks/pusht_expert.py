"""The Push-T scripted expert: greedy push planning in its own copy of the physics.

Strategy (all in the T's body frame, then mapped to the world):

* **Candidates.** Contact points sampled along the T's outline, each pushed straight along the edge's
  inward normal. The agent starts ``R + GAP`` outside the contact point (the *pre-contact* point).
* **Choice.** Each candidate's push is simulated in a scratch pymunk space built from the *observed*
  scene (stage 1: one straight push of ``L_MAX`` steps, scored by the best pose reached; stage 2: the
  ``TOP_M`` best by keypoint error are re-simulated for every push length, each followed by a retreat
  step, and scored by :func:`cost`: centre-of-mass distance + weighted angle error (turning first) +
  uncovered goal area (which dominates the final alignment). Push speed shrinks with the error: coarse
  strokes far away, slow precise nudges near the goal.
* **Execution.** A visibility-graph path around the inflated T (targets at most ``STEP`` px apart)
  to a staging point behind the pre-contact point, a straight stroke along the push direction whose
  length is re-chosen from the actual state when the stroke starts, and one retreat step. Then replan.
* **Tracking.** The expert keeps an internal physical state (observed positions + velocities predicted
  by its own model). An observation that departs from the one-step prediction (a handover, a
  disturbance, a world-model jump) drops the plan and replans from the observation.

It reads only observation dicts and never touches a simulator. ``skill < 1`` adds Gaussian target
noise and occasional wrong or shortened pushes, all drawn from ``self.rng``.
"""

from __future__ import annotations

import heapq
import logging
import math

import numpy as np
import shapely

from hiwm.tasks.base import Expert
from hiwm.tasks.pusht import (AGENT_RADIUS, DT, GOAL_POSE, K_P, K_V, SUBSTEPS, T_OUTLINE, WORKSPACE,
                              PushTTask, build_space, coverage, pose_error, transform)
from hiwm.tasks.registry import EXPERTS

log = logging.getLogger(__name__)

GAP = 6.0            # clearance between the agent's rim and the T at the pre-contact point, px
CLEAR = 3.0          # minimum clearance kept while travelling around the T, px
RETREAT = 10.0       # the retreat target lies this far behind the agent when a stroke ends, px
DRIFT, JUMP = 2.5, 8.0  # departures from the prediction (units of 3 px agent / 2 px block / 0.04 rad)
#                          that drop the plan, and that also mean a handover (velocities unknown)
STEP = 30.0          # max distance between successive travel targets, px
L_MAX = 6            # max push length, control steps
TOP_M = 5            # candidates re-simulated with every push length
SPACING = 15.0       # distance between contact candidates along the outline, px
WALL_LO, WALL_HI = 7.0 + AGENT_RADIUS + 1.0, 504.0 - AGENT_RADIUS - 1.0
COM = np.array([0.0, 45.0])  # the block's centre of gravity in its body frame
_GOAL_COM = transform(COM[None], GOAL_POSE)[0]
W_ANGLE, W_COVER = 100.0, 60.0  # cost weights: px per rad of angle error, px per unit of uncovered goal
_T_POLY = shapely.Polygon(T_OUTLINE)


def cost(pose: np.ndarray) -> float:
    """The planner's objective for one pose (3,): distance of the centre of mass to the goal's, plus
    angle error (weighted so that turning comes first), plus uncovered goal area (dominant near the goal)."""
    d_com = float(np.linalg.norm(transform(COM[None], pose)[0] - _GOAL_COM))
    d_ang = abs(math.remainder(float(pose[2]) - GOAL_POSE[2], 2 * math.pi))
    return d_com + W_ANGLE * d_ang + W_COVER * (1.0 - coverage(pose))


def push_speed(err: float) -> float:
    """Target speed along a push, px per control step, for the current keypoint error (px)."""
    return 20.0 if err > 40 else 10.0 if err > 12 else 4.0


def _contact_candidates() -> tuple[np.ndarray, np.ndarray]:
    """Contact points (N, 2) and outward normals (N, 2) in the body frame, whose pre-contact point is free."""
    pts, nrm = [], []
    for a, b in zip(T_OUTLINE, np.roll(T_OUTLINE, -1, axis=0)):
        length = float(np.linalg.norm(b - a))
        d = (b - a) / length
        n = np.array([d[1], -d[0]])  # the outline is counter-clockwise: outward normal
        k = max(1, int(round(length / SPACING)))
        for s in (np.arange(k) + 0.5) * length / k:
            c = a + d * s
            if _T_POLY.distance(shapely.Point(c + n * (AGENT_RADIUS + GAP))) >= AGENT_RADIUS + GAP - 0.5:
                pts.append(c)
                nrm.append(n)
    return np.array(pts), np.array(nrm)


CONTACTS, NORMALS = _contact_candidates()


def agent_velocities(pos: np.ndarray, vel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The PD-tracked kinematic agent: pos, vel (..., 2), targets (..., K, 2) -> substep velocities
    (..., K * SUBSTEPS, 2), exactly as :func:`hiwm.tasks.pusht.advance` sets them."""
    if np.ndim(pos) == 1 and np.ndim(targets) == 2:
        return _agent_velocities_one(pos, vel, targets)
    p, v, out = pos.astype(float).copy(), vel.astype(float).copy(), []
    for k in range(targets.shape[-2]):
        t = targets[..., k, :]
        for _ in range(SUBSTEPS):
            v = v + (K_P * (t - p) - K_V * v) * DT
            p = p + v * DT
            out.append(v)
    return np.stack(out, axis=-2)


def _agent_velocities_one(pos: np.ndarray, vel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """agent_velocities for one agent, pos, vel (2,), targets (K, 2), on Python floats: the same IEEE
    operations in the same order (so bit-identical), without numpy's per-call cost on 2-vectors. The
    planner calls this for every candidate push, and it was 40% of a Hi-WM campaign's time."""
    px, py = float(pos[0]), float(pos[1])
    vx, vy = float(vel[0]), float(vel[1])
    out = []
    for tx, ty in np.asarray(targets, dtype=float).tolist():
        for _ in range(SUBSTEPS):
            vx = vx + (K_P * (tx - px) - K_V * vx) * DT
            vy = vy + (K_P * (ty - py) - K_V * vy) * DT
            px = px + vx * DT
            py = py + vy * DT
            out.append((vx, vy))
    return np.array(out, dtype=float).reshape(len(out), 2)


class Scratch:
    """The expert's own physics model: one reusable pymunk space, a state (10,) in, control steps out."""

    def __init__(self):
        self.space, self.agent, self.block = build_space(np.zeros(10))
        self.shapes = list(self.block.shapes)

    def run(self, phys: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
        """phys (10,), targets (K, 2) -> the physical state (10,) after each of the K control steps."""
        self.space.remove(*self.shapes)  # drop cached contacts, as a fresh space would
        self.space.add(*self.shapes)
        b, a = self.block, self.agent
        b.angle = phys[6]
        b.position, b.velocity, b.angular_velocity = (phys[4], phys[5]), (phys[7], phys[8]), phys[9]
        a.position = (phys[0], phys[1])
        vels = agent_velocities(phys[:2], phys[2:4], np.asarray(targets, float))
        p, out = phys[:2].copy(), []
        for chunk in vels.reshape(-1, SUBSTEPS, 2):
            for v in chunk.tolist():
                a.velocity = v
                self.space.step(DT)
            p = p + chunk.sum(0) * DT
            bp, bv = b.position, b.velocity
            out.append(np.array([p[0], p[1], *chunk[-1], bp[0], bp[1], b.angle, bv[0], bv[1], b.angular_velocity]))
        return out


def _rot(vecs: np.ndarray, angle: float) -> np.ndarray:
    return transform(vecs, (0.0, 0.0, angle))


def _resample(points: list[np.ndarray], step: float) -> list[np.ndarray]:
    """A polyline (first point = where the previous target was) -> targets at most ``step`` apart, excluding the first."""
    out = []
    for a, b in zip(points[:-1], points[1:]):
        n = max(1, int(math.ceil(np.linalg.norm(b - a) / step)))
        out += [a + (b - a) * (i / n) for i in range(1, n + 1)]
    return out


def travel_path(start: np.ndarray, goal: np.ndarray, pose: np.ndarray) -> list[np.ndarray]:
    """Shortest path (list of waypoints, start first, goal last) around the T at ``pose`` (visibility graph
    over the corners of the T inflated by the agent radius)."""
    body = shapely.Polygon(transform(T_OUTLINE, pose))
    obstacle = body.buffer(AGENT_RADIUS + CLEAR, quad_segs=2)
    path = [start]
    if body.distance(shapely.Point(start)) < AGENT_RADIUS + CLEAR + 0.5:  # touching: step straight out first
        q = np.array(shapely.shortest_line(body, shapely.Point(start)).coords[0])
        out = start - q
        out = out / max(np.linalg.norm(out), 1e-6)
        start = np.clip(q + out * (AGENT_RADIUS + GAP + 2), WALL_LO, WALL_HI)
        path.append(start)
    corners = np.clip(np.array(body.buffer(AGENT_RADIUS + GAP, join_style="mitre").exterior.coords[:-1]),
                      WALL_LO, WALL_HI)
    nodes = np.vstack([start[None], corners, goal[None]])
    n = len(nodes)
    ii, jj = np.triu_indices(n, 1)
    segs = shapely.linestrings(np.stack([nodes[ii], nodes[jj]], axis=1))
    free = ~shapely.intersects(obstacle, segs)
    dist = np.full((n, n), np.inf)
    lengths = np.linalg.norm(nodes[ii] - nodes[jj], axis=-1)
    dist[ii[free], jj[free]] = dist[jj[free], ii[free]] = lengths[free]
    best, prev, heap = np.full(n, np.inf), np.full(n, -1), [(0.0, 0)]
    best[0] = 0.0
    while heap:
        d, i = heapq.heappop(heap)
        if i == n - 1 or d > best[i]:
            continue
        for j in np.flatnonzero(np.isfinite(dist[i])):
            if d + dist[i, j] < best[j]:
                best[j], prev[j] = d + dist[i, j], i
                heapq.heappush(heap, (best[j], j))
    if not np.isfinite(best[-1]):
        return path + [goal]  # no free path (e.g. pinned against a wall): go straight
    chain, i = [], n - 1
    while i > 0:
        chain.append(nodes[i])
        i = prev[i]
    return path + chain[::-1]


MAX_TRAVEL = 40  # targets planned ahead when travelling (4 s)


def travel_targets(phys: np.ndarray, path: list[np.ndarray], tail: list[np.ndarray], pose: np.ndarray) -> list[np.ndarray]:
    """Targets along ``path`` then ``tail``, dwelling at the path's corners if the lagging agent (state
    phys (10,)) would otherwise cut a corner into the T at ``pose``."""
    body = shapely.Polygon(transform(T_OUTLINE, pose))
    for dwell in range(4):
        seq = []
        for a, b in zip(path[:-1], path[1:]):
            seq += _resample([a, b], STEP) + [b] * dwell
        seq = (seq + tail)[:MAX_TRAVEL]  # replanning comes long before; bounds the cost on absurd states
        pos = phys[:2] + np.cumsum(agent_velocities(phys[:2], phys[2:4], np.array(seq)), axis=0) * DT
        d = shapely.distance(body, shapely.points(pos))
        away = np.flatnonzero(d >= AGENT_RADIUS + 1.0)  # an initial contact must end within 3 steps
        if away.size and away[0] <= 3 * SUBSTEPS and d[away[0]:].min() >= AGENT_RADIUS + 0.5:
            break
    return seq


@EXPERTS.register("pusht")
class PushTExpert(Expert):
    """Greedy push planner over its own scratch physics; see the module docstring."""

    def __init__(self, skill: float = 1.0, seed: int = 0):
        super().__init__(skill, seed)
        self.sim = Scratch()
        self.reset()

    def reset(self) -> None:
        self._pred: np.ndarray | None = None      # predicted physical state at the next observation (10,)
        self._queue: list[np.ndarray] = []         # pending targets (2,)
        self._stroke: tuple | None = None          # (pre-contact (2,), direction (2,), speed, candidate) after travel
        self._last: np.ndarray | None = None       # the last target issued, before noise (2,)
        self._plan_scene = np.zeros(5)             # the scene the current plan was made in (5,)
        self._banned: set[int] = set()             # candidates whose stroke was found useless since the last push

    # ------------------------------------------------------------------ acting
    def act(self, obs: dict) -> np.ndarray:
        """obs: observation dict -> target position (2,) in [0, 512]."""
        phys = self._estimate(PushTTask.scene_of(obs))
        if not self._queue:
            if self._stroke is not None:
                self._start_stroke(phys)
            if not self._queue:
                self._plan(phys)
        target = self._last = self._queue.pop(0)
        if self.skill < 1.0:
            target = target + self.rng.normal(0.0, 12.0 * (1.0 - self.skill), 2)
        action = np.clip(target, 0.0, WORKSPACE)
        self._pred = self.sim.run(phys, action[None])[0]
        return action

    def _estimate(self, scene: np.ndarray) -> np.ndarray:
        """Observed scene (5,) -> internal physical state (10,): observed positions, velocities from the
        model's one-step prediction. A jump (handover) zeroes the velocities and drops the plan; a smaller
        departure (model error, a bump while travelling) drops the plan only."""
        phys = np.array([scene[0], scene[1], 0, 0, scene[2], scene[3], scene[4], 0, 0, 0], dtype=np.float64)
        if self._pred is None:
            return phys
        dev = self._departure(self._pred[[0, 1, 4, 5, 6]], scene)
        if dev > JUMP:
            log.debug("observation jumped (departure %.1f): new plan from rest", dev)
            self.reset()
            return phys
        phys[[2, 3, 7, 8, 9]] = self._pred[[2, 3, 7, 8, 9]]
        bumped = self._stroke is not None and self._departure(self._plan_scene, scene, agent=False) > DRIFT
        if dev > DRIFT or bumped:
            log.debug("observation departs from the plan (%.2f, bumped %s): replanning", dev, bumped)
            self._queue, self._stroke = [], None
        return phys

    @staticmethod
    def _departure(expected: np.ndarray, scene: np.ndarray, agent: bool = True) -> float:
        """Scaled distance between two scenes (5,): 1.0 = 3 px agent, 2 px block or 0.04 rad."""
        d = max(np.linalg.norm(expected[2:4] - scene[2:4]) / 2.0,
                abs(math.remainder(expected[4] - scene[4], 2 * math.pi)) / 0.04)
        return max(d, np.linalg.norm(expected[:2] - scene[:2]) / 3.0) if agent else d

    # ---------------------------------------------------------------- planning
    def _candidates(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World pre-contact points (N, 2), push directions (N, 2), indices of valid candidates."""
        n_w = _rot(NORMALS, pose[2])
        pre = transform(CONTACTS, pose) + n_w * (AGENT_RADIUS + GAP)
        ok = np.flatnonzero(np.all((pre >= WALL_LO) & (pre <= WALL_HI), axis=1))
        return pre, -n_w, ok if ok.size else np.arange(len(pre))  # a T outside the walls: try them all

    def _stroke_costs(self, phys: np.ndarray, pre: np.ndarray, dirn: np.ndarray, v: float, n_steps: int) -> list[float]:
        """Cost after pushing 1..n_steps steps from phys (10,), each followed by one retreat step."""
        states = self.sim.run(phys, pre + dirn * v * np.arange(1, n_steps + 1)[:, None])
        return [cost(self.sim.run(s, (s[:2] - dirn * RETREAT)[None])[0][4:7]) for s in states]

    def _choose(self, phys: np.ndarray, v: float) -> tuple[int, float]:
        """The best candidate push at speed v (index, predicted cost); sloppier with lower skill."""
        pre, dirn, valid = self._candidates(phys[4:7])
        if not set(valid.tolist()) - self._banned:
            self._banned.clear()
        valid = np.array([i for i in valid if i not in self._banned], dtype=int)
        rest = phys.copy()
        rest[[2, 3, 7, 8, 9]] = 0.0
        scores = []
        for i in valid:  # stage 1: one straight push per candidate from rest, best pose along it
            rest[:2] = pre[i]
            states = self.sim.run(rest, pre[i] + dirn[i] * v * np.arange(1, L_MAX + 2)[:, None])
            scores.append(pose_error(np.array([s[4:7] for s in states])).min())
        order = valid[np.argsort(scores)[:TOP_M]]
        best = []
        for i in order:  # stage 2: every push length, each with its retreat
            rest[:2] = pre[i]
            best.append(min(self._stroke_costs(rest, pre[i], dirn[i], v, L_MAX)))
        pick, predicted = int(order[int(np.argmin(best))]), min(best)
        slip = self.rng.random() if self.skill < 1.0 else 1.0
        if slip < 0.2 * (1.0 - self.skill):
            pick = -1 - int(self.rng.choice(valid))  # careless: any push (negative index marks it)
        elif slip < 0.6 * (1.0 - self.skill):
            pick = int(order[self.rng.integers(len(order))])  # sloppy: one of the good ones
        return pick, predicted

    def _plan(self, phys: np.ndarray) -> None:
        """Choose a push and queue the travel to it; the stroke itself is fixed when the travel ends."""
        pose = phys[4:7]
        err = float(pose_error(pose))
        v = push_speed(err)
        self._plan_scene = np.concatenate([phys[:2], pose])
        pick, predicted = self._choose(phys, v)
        log.debug("plan: err %.1f px, cov %.3f, contact %d, predicted cost %.2f", err, coverage(pose), pick, predicted)
        pre, dirn, _ = self._candidates(pose)
        i = pick if pick >= 0 else -1 - pick
        staging = pre[i] - dirn[i] * 2 * v
        start = phys[:2]
        if self._last is not None and np.linalg.norm(self._last - start) < 60.0:
            start = self._last  # continue from the last target: the targets stay continuous
        path = travel_path(start, staging, pose)
        self._queue = travel_targets(phys, path, _resample([staging, pre[i]], v), pose)
        self._stroke = (pre[i], dirn[i], v, pick)

    def _start_stroke(self, phys: np.ndarray) -> None:
        """At the pre-contact point: choose the push length from the actual state and queue the stroke."""
        pre, dirn, v, pick = self._stroke
        self._stroke = None
        if pick < 0:  # careless push: any length, no check
            n = int(self.rng.integers(1, L_MAX + 1))
        else:
            costs = self._stroke_costs(phys, pre, dirn, v, L_MAX + 2)
            n = int(np.argmin(costs)) + 1
            if costs[n - 1] >= cost(phys[4:7]) - 1e-3:
                log.debug("stroke would not help (%.2f >= %.2f): replanning", costs[n - 1], cost(phys[4:7]))
                self._banned.add(pick)
                return
            if self.skill < 1.0 and self.rng.random() < 0.3 * (1.0 - self.skill):
                n = int(self.rng.integers(1, n + 1))  # a short push
        self._banned.clear()
        self._queue = [pre + dirn * v * k for k in range(1, n + 1)]
        agent_end = self.sim.run(phys, np.array(self._queue))[-1][:2]
        self._queue.append(agent_end - dirn * RETREAT)
