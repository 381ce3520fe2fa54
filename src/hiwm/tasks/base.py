"""The task interface: a simulator that plays "the real world", and scene functions that judge any scene.

Every task exposes two layers:

* **Scene functions** take a compact *scene vector* (agent state and object state; for Push-T the
  pusher position and the T's pose) and are pure: ``observe``, ``scene_of``, ``progress``,
  ``is_success`` and ``render_scene``. The same functions judge a simulator state and a world-model prediction of it, so the
  world model's success judge is the task's own success test.
* **The simulator** is a gymnasium env with an exact snapshot (``get_state`` / ``set_state``): restoring a
  snapshot and replaying the same actions reproduces the same observations bit for bit.

Observation dict (LeRobot feature names):
    ``observation.state``             (D_agent,)  the agent's own state
    ``observation.environment_state`` (D_env,)    the object's low-dimensional state
    ``observation.image``             (S, S, 3) uint8, top-down RGB (only when images are requested)
``observe(scene)`` builds the dict from a scene and ``scene_of(obs)`` recovers the scene from it, so the
world model may predict scenes while policies read observations.
"""

from __future__ import annotations

import abc
import logging
import warnings
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from hiwm.errors import HiwmError

log = logging.getLogger(__name__)

STATE_KEY = "observation.state"
ENV_KEY = "observation.environment_state"
IMAGE_KEY = "observation.image"


@dataclass(frozen=True)
class TaskSpec:
    """What the rest of hiwm reads about a task. ``extra`` holds what only the task knows, in its own units:
    ``extra["controls"]``, the action layout a person steers; ``extra["operator"]``, when its expert, watching,
    would take over (the scripted operator's thresholds). A run's tuned settings are presets (hiwm.recipe)."""

    name: str
    fps: int
    max_steps: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    agent_dim: int
    env_dim: int
    scene_dim: int
    image_size: int = 96
    # the points the object's state lists, as (first dim, points, dims per point), XY in the action's picture
    # units (the pixel world model's perception head locates each in the frame)
    env_points: tuple[tuple[int, int, int], ...] = ()
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def action_dim(self) -> int:
        return len(self.action_low)


def check_action(action, spec: TaskSpec) -> np.ndarray:
    """Validate one action or a batch: (A,) or (N, A) -> float64 copy, clipped into the action box.

    NaN/inf or a wrong shape raise a one-line HiwmError (nothing is stepped); out-of-range values are
    clipped with a warning, as a real controller would saturate.
    """
    a = np.asarray(action, dtype=np.float64)
    if a.shape[-1:] != (spec.action_dim,) or a.ndim not in (1, 2):
        raise HiwmError(f"{spec.name}: action must have shape ({spec.action_dim},) or (N, {spec.action_dim}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise HiwmError(f"{spec.name}: action contains NaN or inf: {a.tolist()}")
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)
    clipped = np.clip(a, low, high)
    if not np.array_equal(clipped, a):
        warnings.warn(f"{spec.name}: action outside [{low.tolist()}, {high.tolist()}] was clipped", stacklevel=3)
    return clipped


class Task(gym.Env, abc.ABC):
    """A simulator with exact snapshots plus the scene functions of its task."""

    spec_: TaskSpec  # `spec` is taken by gymnasium
    metadata = {"render_modes": ["rgb_array"]}
    gripper = False  # True: actions are [x, y, z, grasp] (tasks/mujoco_gripper.py); False: a 2-D target

    def __init__(self, images: bool = True):
        self.images = images

    # ---- scene functions: usable on a predicted scene ----
    @classmethod
    @abc.abstractmethod
    def progress(cls, scene: np.ndarray) -> float:
        """scene: (D_scene,) -> progress in [0, 1]."""

    @classmethod
    @abc.abstractmethod
    def is_success(cls, scene: np.ndarray) -> bool:
        """scene: (D_scene,) -> the task's success test."""

    @classmethod
    def judge(cls, scene: np.ndarray) -> tuple[float, bool, bool]:
        """(progress, is_success, is_terminal_success) in one call (tasks override to share work)."""
        return cls.progress(scene), cls.is_success(scene), cls.is_terminal_success(scene)

    @classmethod
    def judge_batch(cls, scenes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """scenes (B, D_scene) -> progress (B,) float, is_success (B,) bool, is_terminal_success (B,) bool.

        ``judge`` on each scene; tasks override with a vectorised version that gives the same answers.
        """
        judged = [cls.judge(s) for s in scenes]
        return (np.array([j[0] for j in judged], dtype=np.float64), np.array([j[1] for j in judged], dtype=bool),
                np.array([j[2] for j in judged], dtype=bool))

    @classmethod
    def closeness(cls, scene: np.ndarray) -> float:
        """scene: (D_scene,) -> how near success it is, in [0, 1], for the scripted operator's stall test
        (``OperatorConfig.regress``). Default: ``progress``; a task whose progress stays flat far from the
        goal (Push-T's coverage is 0 until the T overlaps it) overrides it with a smooth distance."""
        return cls.progress(scene)

    @classmethod
    def at_risk(cls, scene: np.ndarray) -> bool:
        """scene: (D_scene,) -> True where the scene is failure-prone in a way a person watching would catch
        before progress stalls (Push-T: the T shoved against a wall). The scripted operator takes over when a
        rollout enters such a scene (``OperatorConfig.risk``). Default: never."""
        return False

    # Where a policy may see the scene in the task's own frame (policies/frame.py): the index of every x (whose
    # y follows) in the scene and in the action. Empty: the task has no such frame.
    policy_frame_xy: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())

    @classmethod
    def policy_frame(cls, scene):
        """scene: torch (..., D_scene) -> (origin (..., 2), unit x axis (..., 2)) of the task's own frame, for
        tasks that set ``policy_frame_xy``."""
        raise HiwmError(f"{cls.spec_.name}: the task has no policy frame")

    @classmethod
    def is_terminal_success(cls, scene: np.ndarray) -> bool:
        """Where the episode ends early on success (gym-pusht: coverage 0.95); default: ``is_success``."""
        return cls.is_success(scene)

    @classmethod
    @abc.abstractmethod
    def render_scene(cls, scene: np.ndarray, size: int = 96) -> np.ndarray:
        """scene: (D_scene,) -> (size, size, 3) uint8 top-down image."""

    @classmethod
    @abc.abstractmethod
    def initial_scene(cls, seed: int) -> np.ndarray:
        """The scene the simulator starts from at this seed, (D_scene,)."""

    @classmethod
    @abc.abstractmethod
    def observe_lowdim(cls, scene: np.ndarray) -> dict:
        """scene: (..., D_scene) -> {STATE_KEY: (..., D_agent), ENV_KEY: (..., D_env)}."""

    @classmethod
    @abc.abstractmethod
    def scene_of(cls, obs: dict) -> np.ndarray:
        """The inverse of ``observe``: an observation dict (leading batch dims allowed) -> (..., D_scene)."""

    @classmethod
    def play_points(cls, scene: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """scene (D_scene,) -> (agent xy (2,), points on the object (K, 2)): what play behaviours
        (data/play.py) move to and poke at. Default: the scene starts with agent xy, then object xy."""
        scene = np.asarray(scene, dtype=np.float64)
        return scene[:2], scene[None, 2:4]

    @classmethod
    def observe(cls, scene: np.ndarray, images: bool = False, image_size: int | None = None) -> dict:
        """scene: (D_scene,) -> observation dict, with the rendered image if ``images``."""
        scene = np.asarray(scene, dtype=np.float64)
        obs = cls.observe_lowdim(scene)
        if images:
            obs[IMAGE_KEY] = cls.render_scene(scene, image_size or cls.spec_.image_size)
        return obs

    # ---- the simulator ----
    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """The exact physical snapshot, (D_phys,) float64."""

    @abc.abstractmethod
    def set_state(self, state: np.ndarray) -> dict:
        """Restore a snapshot exactly; returns the observation there."""

    @abc.abstractmethod
    def scene(self) -> np.ndarray:
        """The current scene vector, (D_scene,)."""

    def info(self) -> dict:
        p, ok, terminal = self.judge(self.scene())
        return {"progress": p, "is_success": ok, "terminal_success": terminal}

    def render(self) -> np.ndarray:
        return self.render_scene(self.scene(), self.spec_.image_size)


class Expert(abc.ABC):
    """A scripted expert: the demonstrator, and the scripted operator inside the world model.

    It reads only the observation dict it is handed (a simulator observation or a world-model
    prediction) and never touches a simulator. ``skill`` in [0, 1]: 1 is the best it can do; lower
    values add noise and mistakes (for varied demonstrations and play data). All randomness comes
    from ``seed``.
    """

    def __init__(self, skill: float = 1.0, seed: int = 0):
        if not 0.0 <= skill <= 1.0:
            raise HiwmError(f"expert skill must be in [0, 1], got {skill}")
        self.skill = float(skill)
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:  # noqa: B027  (optional: experts without a plan keep nothing to forget)
        """Forget any plan (a new episode, or a state handed over mid-episode)."""

    @abc.abstractmethod
    def act(self, obs: dict) -> np.ndarray:
        """obs: one observation dict -> action (A,)."""
