"""What the two MuJoCo deformable tasks share: a gripper, its grasp, exact snapshots and the camera.

**Gripper.** A mocap body (no collision geometry) that tracks the commanded end-effector target at
most :data:`GRIP_SPEED` m/s, moved a little at every physics substep, so a held rope or towel is never
yanked across the table in one step. Moving the target is the whole arm model: no joint limits, no
reach, no collisions of the gripper itself.

**Grasp.** Every flex vertex (rope node, cloth vertex) has an inactive ``connect`` equality to the
gripper, anchored at the gripper's centre. When the grasp command goes from open to closed, the
nearest vertex within :data:`GRASP_RADIUS` of the gripper is connected (none if none is that close);
opening releases it. A gripper closed on nothing stays empty until it is opened again, as a real one
would. The closed flag lives in ``mjData.userdata`` and the connection in ``mjData.eq_active``, both part
of MuJoCo's integration state, so a snapshot holds the grasp too.

**Action** (4,): ``[x, y, z, grasp]``: the absolute target of the gripper (metres, table frame, table top
at z = 0) and the grasp command (closed when >= 0.5). Box: x, y in [-0.25, 0.25], z in [0.005, 0.15].
**Agent state** (4,): ``[x, y, z, closed]``: where the gripper is (not where it was told to go) and
whether it is closed.

**Snapshots.** ``get_state`` is ``mj_getState(mjSTATE_INTEGRATION)`` (time, qpos, qvel, activations,
warm-start accelerations, controls, applied forces, equality activations, mocap poses, user data,
plugin state) followed by the step count. Every control step depends on that vector and the action
alone, so restoring it and replaying the same actions gives bit-identical observations. Scenes are read
from ``qpos`` and the mocap poses directly (``mjData.xpos`` lags one substep behind after ``mj_step``).

**Images.** Observation images come from the task's ``render_scene`` (a small cv2 drawing of the scene
vector), exactly as in the world model, so a policy sees the same kind of picture in both. The model
also has a top-down orthographic camera with the same framing, rendered headless by MuJoCo
(``camera_image``; ``MUJOCO_GL=egl`` by default) for people and videos.
"""

from __future__ import annotations

import abc
import logging
import math
import os

import gymnasium as gym
import numpy as np

from hiwm.errors import HiwmError
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, Task, check_action
from hiwm.tasks.controls import ActionLayout

os.environ.setdefault("MUJOCO_GL", "egl")
import mujoco  # noqa: E402

log = logging.getLogger(__name__)

HALF = 0.25                      # the workspace is the square [-HALF, HALF]^2 on the table, metres
Z_MIN, Z_MAX = 0.005, 0.15        # gripper height range, metres
ACTION_LOW = (-HALF, -HALF, Z_MIN, 0.0)
ACTION_HIGH = (HALF, HALF, Z_MAX, 1.0)
GRIP_SPEED = 0.3                 # gripper speed limit, m/s (3 cm per control step)
GRASP_RADIUS = 0.02              # a vertex this close to the gripper's centre is grasped on closing, m
AGENT_DIM = 4
# For a person's devices (tasks/controls.py): XY in the picture's frame (+y up), then height and the grasp.
GRIPPER_CONTROLS = ActionLayout(names=("x", "y", "height", "grasp"), units=("m", "m", "m", ""),
                                view=(-HALF, HALF, HALF, -HALF), height=2, grasp=3, xy_speed=(0.002, 0.01, 0.03),
                                height_speed=0.01)
# The scripted operator's thresholds (session/operators.py) for gripper tasks, whose expert episodes take
# 20-35 steps: targets 6 cm apart (12% of the workspace, as Push-T's 60 px are of its 512) for 3 steps in
# a row, a grasp command that differs by 1 counting as 10 cm; or no progress gain of 0.02 in 15 steps.
OPERATOR_DEFAULTS = {"disagree": 0.06, "action_weights": (1.0, 1.0, 1.0, 0.1), "patience": 3, "stall_steps": 15,
                     "stall_gain": 0.02, "warmup": 5}
STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION

TABLE_XML = """
  <visual>
    <global offwidth="640" offheight="640"/><quality shadowsize="0"/>
    <headlight ambient=".35 .35 .35" diffuse=".25 .25 .25" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".86 .84 .80" rgb2=".82 .80 .76" width="64" height="64"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
  </asset>
"""

WORLD_XML = f"""
    <!-- the table's friction is low: contacts take the larger of the two frictions, so each flex sets its own -->
    <light pos="0 0 1.5" dir="0 0 -1" type="directional" diffuse=".45 .45 .45" specular="0 0 0"/>
    <geom name="table" type="plane" size="{HALF * 2} {HALF * 2} 0.01" material="table" friction="0.3 0.005 0.0001"/>
    <camera name="top" pos="0 0 1" xyaxes="1 0 0 0 1 0" projection="orthographic" fovy="{2 * HALF}"/>
    <body name="gripper" mocap="true" pos="0 0 0.08">
      <geom type="sphere" size="0.012" contype="0" conaffinity="0" rgba=".9 .3 .1 .8"/>
    </body>
"""


def connect_xml(flex: str, n: int) -> str:
    """One inactive gripper-vertex ``connect`` per vertex of ``flex``."""
    return "".join(f'<connect body1="gripper" body2="{flex}_{i}" anchor="0 0 0" active="false"/>' for i in range(n))


def compile_model(xml: str) -> mujoco.MjModel:
    """Compile and anchor every gripper connect at the vertex centre (the compiler would anchor it
    where the vertex sat relative to the gripper in the reference pose)."""
    model = mujoco.MjModel.from_xml_string(xml)
    grip = model.body("gripper").id
    for e in range(model.neq):
        if model.eq_type[e] == mujoco.mjtEq.mjEQ_CONNECT and model.eq_obj1id[e] == grip:
            model.eq_data[e, :6] = 0.0
    return model


def _first_connect(model: mujoco.MjModel, body0: int, n: int) -> int:
    """Index of the gripper connect to vertex 0; checks that vertex i's follows at +i."""
    grip = model.body("gripper").id
    for e in range(model.neq):
        if model.eq_type[e] == mujoco.mjtEq.mjEQ_CONNECT and model.eq_obj1id[e] == grip and model.eq_obj2id[e] == body0:
            if not np.array_equal(model.eq_obj2id[e: e + n], np.arange(body0, body0 + n)):
                break
            return e
    raise ValueError("the model must declare one gripper connect per flex vertex, in vertex order")


class GripperTask(Task, abc.ABC):
    """A MuJoCo task with one flex object and the mocap gripper; see the module docstring.

    Subclasses define ``xml()``, ``DT`` (physics step, s), ``FLEX`` (the flexcomp's name) and
    ``N_VERTS``, plus the scene functions and ``_start(seed)`` (put the model in the seed's start state).
    """

    # The scene is the gripper state followed by the object's state, so observing is slicing.
    @classmethod
    def observe_lowdim(cls, scene: np.ndarray) -> dict:
        scene = np.asarray(scene, dtype=np.float64)
        return {STATE_KEY: scene[..., :AGENT_DIM].copy(), ENV_KEY: scene[..., AGENT_DIM:].copy()}

    @classmethod
    def scene_of(cls, obs: dict) -> np.ndarray:
        return np.concatenate([np.asarray(obs[STATE_KEY], dtype=np.float64),
                               np.asarray(obs[ENV_KEY], dtype=np.float64)], axis=-1)

    gripper = True
    DT: float = 0.005
    FLEX: str = ""
    N_VERTS: int = 0
    _models: dict = {}

    @classmethod
    @abc.abstractmethod
    def xml(cls) -> str:
        """The whole MJCF model."""

    @classmethod
    def model(cls) -> mujoco.MjModel:
        """The compiled model, shared by every instance (it is never modified after compiling)."""
        if cls.__name__ not in GripperTask._models:
            GripperTask._models[cls.__name__] = compile_model(cls.xml())
        return GripperTask._models[cls.__name__]

    def __init__(self, images: bool = True):
        super().__init__(images)
        spec = self.spec_
        self.m = self.model()
        self.d = mujoco.MjData(self.m)
        self._substeps = int(round(1.0 / (spec.fps * self.DT)))
        body0 = self.m.body(f"{self.FLEX}_0").id
        self._rest = self.m.body_pos[body0: body0 + self.N_VERTS].copy()  # (V, 3): vertex at qpos = 0
        qadr = int(self.m.jnt_qposadr[self.m.body_jntadr[body0]])
        self._qslice = slice(qadr, qadr + 3 * self.N_VERTS)
        if not np.all(self.m.jnt_type[self.m.body_jntadr[body0]: self.m.body_jntadr[body0] + 3 * self.N_VERTS]
                      == mujoco.mjtJoint.mjJNT_SLIDE):
            raise ValueError(f"{self.FLEX}: flex vertices must have three slide joints each (dof='full')")
        self._eq0 = _first_connect(self.m, body0, self.N_VERTS)
        self._state_size = mujoco.mj_stateSize(self.m, STATE_SPEC)
        self._steps = 0
        self._render_data: mujoco.MjData | None = None
        self._renderers: dict[int, mujoco.Renderer] = {}
        self.action_space = gym.spaces.Box(np.array(ACTION_LOW), np.array(ACTION_HIGH), dtype=np.float64)
        spaces = {STATE_KEY: gym.spaces.Box(-np.inf, np.inf, shape=(AGENT_DIM,), dtype=np.float64),
                  ENV_KEY: gym.spaces.Box(-np.inf, np.inf, shape=(spec.env_dim,), dtype=np.float64)}
        if images:
            s = spec.image_size
            spaces[IMAGE_KEY] = gym.spaces.Box(0, 255, shape=(s, s, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._start(0)

    # ---- physics access ----
    def vertices(self) -> np.ndarray:
        """Flex vertex positions (V, 3), read from qpos (slide joints along the world axes)."""
        return self._rest + self.d.qpos[self._qslice].reshape(-1, 3)

    def set_vertices(self, pos: np.ndarray) -> None:
        """Place the vertices at rest at these positions (V, 3)."""
        self.d.qpos[self._qslice] = (np.asarray(pos, dtype=np.float64) - self._rest).reshape(-1)
        self.d.qvel[:] = 0.0

    def agent(self) -> np.ndarray:
        """[x, y, z, closed] (4,)."""
        return np.array([*self.d.mocap_pos[0], self.d.userdata[0]], dtype=np.float64)

    def held(self) -> int:
        """Index of the vertex in the gripper, or -1."""
        on = np.flatnonzero(self.d.eq_active[self._eq0: self._eq0 + self.N_VERTS])
        return int(on[0]) if on.size else -1

    @abc.abstractmethod
    def _start(self, seed: int) -> None:
        """Reset mjData and put it in the start state of this seed."""

    def _reset_data(self, gripper_xyz) -> None:
        mujoco.mj_resetData(self.m, self.d)
        self.d.mocap_pos[0] = gripper_xyz
        self.d.userdata[0] = 0.0

    # ---- gym ----
    def reset(self, seed: int | None = None, options: dict | None = None):
        super(Task, self).reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self._start(int(seed))
        self._steps = 0
        return self._obs(), self.info()

    def step(self, action):
        action = check_action(action, self.spec_)
        if action.ndim != 1:
            raise HiwmError(f"{self.spec_.name}: step takes one action of shape (4,), got {action.shape}")
        self._grasp(action[3] >= 0.5)
        target = action[:3]
        max_move = GRIP_SPEED * self.DT
        unstable = self.d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number
        for _ in range(self._substeps):  # straight towards the target at no more than GRIP_SPEED
            delta = target - self.d.mocap_pos[0]
            dist = math.sqrt(delta @ delta)
            self.d.mocap_pos[0] += delta if dist <= max_move else delta * (max_move / dist)
            mujoco.mj_step(self.m, self.d)
        if self.d.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > unstable:  # never seen; MuJoCo resets then
            log.warning("%s: the physics went unstable at step %d and MuJoCo reset it", self.spec_.name, self._steps)
        self._steps += 1
        info = self.info()
        truncated = self._steps >= self.spec_.max_steps
        return self._obs(), info["progress"], info["terminal_success"], truncated, info

    def _grasp(self, close: bool) -> None:
        was_closed = self.d.userdata[0] >= 0.5
        if close and not was_closed:
            dist = np.linalg.norm(self.vertices() - self.d.mocap_pos[0], axis=1)
            i = int(np.argmin(dist))
            if dist[i] <= GRASP_RADIUS:
                self.d.eq_active[self._eq0 + i] = 1
        elif not close and was_closed:
            self.d.eq_active[self._eq0: self._eq0 + self.N_VERTS] = 0
        self.d.userdata[0] = float(close)

    # ---- snapshots ----
    def get_state(self) -> np.ndarray:
        state = np.empty(self._state_size)
        mujoco.mj_getState(self.m, self.d, state, STATE_SPEC)
        return np.concatenate([state, [self._steps]])

    def set_state(self, state: np.ndarray) -> dict:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self._state_size + 1,) or not np.all(np.isfinite(state)):
            raise HiwmError(f"{self.spec_.name}: a snapshot is a finite vector of shape ({self._state_size + 1},), "
                            f"got {state.shape}")
        mujoco.mj_setState(self.m, self.d, state[:-1], STATE_SPEC)
        self._steps = int(state[-1])
        return self._obs()

    def _obs(self) -> dict:
        return self.observe(self.scene(), images=self.images)

    # ---- the MuJoCo camera ----
    def camera_image(self, size: int = 96) -> np.ndarray:
        """The top-down MuJoCo camera: (size, size, 3) uint8. Renders a copy of the state, so the
        simulation itself is untouched."""
        if not 16 <= size <= 640:
            raise HiwmError(f"{self.spec_.name}: camera image size must be in [16, 640], got {size}")
        if self._render_data is None:
            self._render_data = mujoco.MjData(self.m)
        if size not in self._renderers:
            try:
                self._renderers[size] = mujoco.Renderer(self.m, size, size)
            except Exception as e:  # no OpenGL: say what to set, in one line
                raise HiwmError(f"MuJoCo cannot render here (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): "
                                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        state = np.empty(self._state_size)
        mujoco.mj_getState(self.m, self.d, state, STATE_SPEC)
        mujoco.mj_setState(self.m, self._render_data, state, STATE_SPEC)
        mujoco.mj_forward(self.m, self._render_data)
        renderer = self._renderers[size]
        renderer.update_scene(self._render_data, camera="top")
        return renderer.render().copy()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
