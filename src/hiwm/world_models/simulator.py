"""The task's simulator behind the world-model interface: exact dynamics, nothing learned.

This is what "acting on the real robot" means here. Real HG-DAgger runs the same session engine and
the same scripted operator through it (so its cost is counted in robot steps and resets), and any
code written against ``WorldModel`` can be checked against ground truth by swapping it in.

The state's ``scenes`` hold exact simulator snapshots, (B, 1, snapshot_dim) float64 (``Task.get_state``),
not the task's scene vector, so a rollback restores the physics bit for bit. The simulator cannot
invent a full physical state from an observation: it starts from observations it produced itself
(``observation_for_seed``); tasks whose scene at rest is a full state (Push-T) may also start from any
observation through ``Task.snapshot_at_rest``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.tasks import task_class
from hiwm.tasks.base import IMAGE_KEY, check_action
from hiwm.world_models.base import WORLD_MODELS, WMState, WorldModel, WorldModelConfig


@dataclass
class SimulatorConfig(WorldModelConfig):
    type: str = "simulator"
    task: str = "pusht"


def _key(obs: dict) -> bytes:
    return b"".join(np.ascontiguousarray(obs[k], dtype=np.float64).tobytes() for k in sorted(obs) if k != IMAGE_KEY)


@WORLD_MODELS.register("simulator")
class SimulatorModel(WorldModel):
    config_class = SimulatorConfig
    state_class = WMState

    @classmethod
    def fit(cls, config: SimulatorConfig, datasets: list, train_cfg,
            progress: bool = True) -> tuple["SimulatorModel", dict]:
        """Exact dynamics: nothing is learned from ``datasets``; the simulator itself, with zero loss."""
        return cls(config).eval(), {"history": [], "final_loss": 0.0, "steps": 0}

    def __init__(self, config: SimulatorConfig | None = None):
        super().__init__()
        self.config = config or SimulatorConfig()
        self.task = task_class(self.config.task)
        self._env = self.task(images=False)
        self._starts: dict[bytes, np.ndarray] = {}  # initial observation -> its snapshot
        self.steps_taken = 0  # robot steps spent, for the cost of methods that act "on the robot"

    def checkpoint_id(self) -> str:
        return f"simulator-{self.task.spec_.name}"

    def observation_for_seed(self, seed: int) -> dict:
        """Reset the simulator to ``seed``'s initial state: its observation (one step, (D,) arrays)."""
        obs, _ = self._env.reset(seed=int(seed))
        self._starts[_key(obs)] = self._env.get_state()
        return obs

    def initial_state(self, obs: dict) -> WMState:
        obs = {k: np.asarray(v) for k, v in obs.items()}
        batched = {k: (v if v.ndim == 2 else v[None]) for k, v in obs.items() if k != IMAGE_KEY}
        n = len(next(iter(batched.values())))
        snaps = []
        for i in range(n):
            one = {k: v[i] for k, v in batched.items()}
            snap = self._starts.get(_key(one))
            if snap is None:
                snap = self._at_rest(one)
            snaps.append(snap)
        scenes = torch.from_numpy(np.stack(snaps)[:, None])  # (B, 1, snapshot_dim) float64
        acts = torch.zeros(n, 1, self.task.spec_.action_dim, dtype=torch.float64)
        return WMState(scenes, acts, torch.zeros(n, dtype=torch.long))

    def _at_rest(self, obs: dict) -> np.ndarray:
        at_rest = getattr(self.task, "snapshot_at_rest", None)
        if at_rest is None:
            raise HiwmError(f"{self.task.spec_.name} simulator: can only start from an observation it produced "
                            "(observation_for_seed); a full physical state cannot be read off an observation")
        return at_rest(self.task.scene_of(obs))

    def step(self, state: WMState, action, judge: bool = True) -> tuple[WMState, dict, dict]:
        """The simulator judges every step anyway (it is the real world's own info), so ``judge=False`` only
        leaves the judge's keys out of ``info``, as the interface says."""
        action = np.asarray(action.detach().cpu().numpy() if isinstance(action, torch.Tensor) else action, np.float64)
        if action.ndim == 1:
            action = action[None]
        if action.shape != (state.batch_size, self.task.spec_.action_dim):
            raise HiwmError(f"{self.task.spec_.name} simulator: actions must have shape ({state.batch_size}, "
                            f"{self.task.spec_.action_dim}), got {action.shape}")
        action = check_action(action, self.task.spec_)
        snaps, scenes, infos = [], [], []
        for snap, a in zip(state.scenes[:, -1].numpy(), action):
            self._env.set_state(snap)
            _, _, _, _, info = self._env.step(a)
            snaps.append(self._env.get_state())
            scenes.append(self._env.scene())
            infos.append(info)
        self.steps_taken += len(action)
        new = WMState(torch.from_numpy(np.stack(snaps)[:, None]), torch.from_numpy(action[:, None]), state.t + 1)
        scene = np.stack(scenes)
        info = {"scene": scene, "uncertainty": np.zeros(len(action)),
                "progress": np.array([i["progress"] for i in infos]),
                "is_success": np.array([i["is_success"] for i in infos]),
                "terminal_success": np.array([i["terminal_success"] for i in infos])}
        if not judge:
            info = {k: info[k] for k in ("scene", "uncertainty")}
        return new, self.task.observe_lowdim(scene), info
