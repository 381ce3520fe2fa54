"""A deep-ensemble MLP world model over the task's scene, trained with a multi-step rollout loss.

Each of E members maps (scene history, action) encoded in the task's frame (features.py, gripper.py) to
the next scene's change. A step predicts with the members' mean; their spread (in scene units: Push-T
px, the gripper tasks' metres; over the agent and the object's points) is the per-step uncertainty. All E members run as one batched matmul per layer,
which is what makes batch-1 stepping fast on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hiwm.data.lerobot import LeRobotDataset
from hiwm.errors import HiwmError
from hiwm.tasks import ENV_KEY, STATE_KEY, task_class
from hiwm.training import TrainConfig
from hiwm.world_models.base import WORLD_MODELS, WMState, WorldModel, WorldModelConfig
from hiwm.world_models.ensemble.features import SCENE_CODECS
from hiwm.world_models.ensemble.fit import Episode, fit_scene_model, scene_episodes
from hiwm.world_models.ensemble.numpy_net import NumpyEnsemble


_UNC_MAX = float(np.finfo(np.float32).max)  # the largest uncertainty a frame can hold


@dataclass
class EnsembleConfig(WorldModelConfig):
    type: str = "ensemble"
    task: str = "pusht"
    members: int = 5
    hidden: int = 256
    layers: int = 3
    n_hist: int = 2
    rollout_steps: int = 8  # K in the multi-step loss


class EnsembleLinear(nn.Module):
    """E independent linear layers applied as one batched matmul: (E, N, i) -> (E, N, o)."""

    def __init__(self, members: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(members, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@WORLD_MODELS.register("ensemble")
class EnsembleWorldModel(WorldModel):
    config_class = EnsembleConfig
    state_class = WMState

    def __init__(self, config: EnsembleConfig):
        super().__init__()
        self.config = config
        self.task = task_class(config.task)
        self.codec = SCENE_CODECS.get(config.task)(config.n_hist)
        dims = [self.codec.n_in] + [config.hidden] * config.layers + [self.codec.n_out]
        self.net = nn.ModuleList(EnsembleLinear(config.members, i, o) for i, o in zip(dims[:-1], dims[1:]))
        self.register_buffer("in_mean", torch.zeros(self.codec.n_in))
        self.register_buffer("in_std", torch.ones(self.codec.n_in))
        self.register_buffer("out_std", torch.ones(self.codec.n_out))

    # ---- training entry points (ensemble/fit.py; the chain kind inherits them) ----
    @classmethod
    def fit(cls, config: EnsembleConfig, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
            progress: bool = True) -> tuple["EnsembleWorldModel", dict]:
        """Train on every episode of ``datasets``, in order, as scene vectors of ``config.task``."""
        episodes = [ep for ds in datasets for ep in scene_episodes(ds, config.task)]
        return cls.fit_episodes(config, episodes, train_cfg, progress)

    @classmethod
    def fit_episodes(cls, config: EnsembleConfig, episodes: list[Episode], train_cfg: TrainConfig,
                     progress: bool = True) -> tuple["EnsembleWorldModel", dict]:
        """Train on scene episodes [(scenes (T, D_scene), actions (T, A))] (``fit`` with the datasets read)."""
        return fit_scene_model(cls, config, episodes, train_cfg, progress)

    # ---- the network ----
    def set_normalization(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        """inputs (N, n_in), targets (N, n_out) sampled from the training data."""
        self.in_mean.copy_(inputs.mean(0))
        self.in_std.copy_(inputs.std(0).clamp_min(1e-3))
        self.out_std.copy_(targets.std(0).clamp_min(1e-3))
        self._np_cache = None
        self._ckpt_id = None

    def deltas(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (E, N, n_in) -> per-member scene changes (E, N, n_out), in codec units."""
        x = (feats - self.in_mean) / self.in_std
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i < len(self.net) - 1:
                x = torch.nn.functional.silu(x)
        return x * self.out_std

    # ---- the functional interface ----
    def initial_state(self, obs: dict) -> WMState:
        spec = self.task.spec_
        for key, dim in ((STATE_KEY, spec.agent_dim), (ENV_KEY, spec.env_dim)):
            shape = np.shape(obs.get(key))
            if len(shape) not in (1, 2) or shape[-1] != dim:
                raise HiwmError(f"{spec.name} world model: {key} must have shape ({dim},) or (B, {dim}), got {shape}")
        scene = torch.as_tensor(np.asarray(self.task.scene_of(obs)), dtype=torch.float32)
        if scene.ndim == 1:
            scene = scene[None]
        device = self.in_mean.device
        scene = scene.to(device)
        hist = scene[:, None, :].expand(-1, self.config.n_hist, -1).clone()
        acts = self.codec.rest_action(hist).clone()
        return WMState(hist, acts, torch.zeros(scene.shape[0], dtype=torch.long, device=device))

    def state_at(self, scenes: np.ndarray, actions: np.ndarray, starts: np.ndarray) -> WMState:
        """The true history of a recorded episode (scenes (T, D_scene), actions (T, A)) at each of
        ``starts`` (N,): scenes t-h+1..t and the actions into them, at rest before frame 0 -> batch N."""
        h = self.config.n_hist
        hist_s, hist_a = [], []
        rest = np.asarray(self.codec.rest_action(scenes[:1]))[0]
        for t in starts:
            idx = np.arange(t - h + 1, t + 1)
            hist_s.append(scenes[np.clip(idx, 0, None)])
            hist_a.append(np.stack([actions[i - 1] if i >= 1 else rest for i in idx]))
        device = self.in_mean.device
        return WMState(torch.tensor(np.stack(hist_s), dtype=torch.float32, device=device),
                       torch.tensor(np.stack(hist_a), dtype=torch.float32, device=device),
                       torch.zeros(len(starts), dtype=torch.long, device=device))

    def _numpy_net(self) -> NumpyEnsemble:
        """The network rearranged for the CPU inference path (numpy_net.py; rebuilt after any change)."""
        if getattr(self, "_np_cache", None) is None:
            self._np_cache = NumpyEnsemble([(layer.weight, layer.bias) for layer in self.net], self.in_mean, self.in_std,
                                           self.out_std)
        return self._np_cache

    def train(self, mode: bool = True):
        self._np_cache = None
        self._ckpt_id = None
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self._np_cache = None
        self._ckpt_id = None
        return super()._load_from_state_dict(*args, **kwargs)

    def _predict_numpy(self, scenes: np.ndarray, actions: np.ndarray, action: np.ndarray):
        """(B, H, D), (B, H, A), (B, A) float32 -> next scenes (B, D) float32, uncertainty (B,)."""
        d = self._numpy_net()(self.codec.inputs(scenes, actions, action))  # (E, B, n_out)
        nxt = self.codec.apply(scenes[:, -1], d.sum(0) / d.shape[0], action)  # the members' mean
        return nxt.astype(np.float32, copy=False), self.codec.spread(d)

    @torch.no_grad()
    def _predict_torch(self, scenes: torch.Tensor, actions: torch.Tensor, action: torch.Tensor):
        e = self.config.members
        d = self.deltas(self.codec.inputs(scenes, actions, action)[None].expand(e, -1, -1))
        return self.codec.apply(scenes[:, -1], d.mean(0), action), self.codec.spread(d)

    def step(self, state: WMState, action, judge: bool = True) -> tuple[WMState, dict, dict]:
        if isinstance(action, torch.Tensor):
            action = action.detach().cpu().numpy()
        action = np.asarray(action, dtype=np.float32)
        if action.ndim == 1:
            action = action[None]
        if action.shape != (state.batch_size, self.codec.action_dim):
            raise HiwmError(f"{self.config.task} world model: actions must have shape ({state.batch_size}, "
                            f"{self.codec.action_dim}), got {action.shape}")
        step = self._step_numpy if state.scenes.device.type == "cpu" and not self.training else self._step_torch
        new, scene, unc = step(state, action)
        # a diverging rollout's member spread overflows float32 before its scenes do; "not to be trusted" must
        # stay a number, or the session's frames cannot be written (the dataset refuses inf)
        unc = np.minimum(np.nan_to_num(np.asarray(unc, dtype=np.float64), nan=_UNC_MAX), _UNC_MAX)
        info = {"scene": scene, "uncertainty": unc}
        if judge:
            info["progress"], info["is_success"], info["terminal_success"] = self.task.judge_batch(scene)
        return new, self.task.observe_lowdim(scene), info

    def _step_numpy(self, state: WMState, action: np.ndarray) -> tuple[WMState, np.ndarray, np.ndarray]:
        """The CPU inference path, numpy throughout (no torch call but wrapping the results: at batch 1 each
        costs ~2-5 us of a ~0.5 ms step). action (B, A) float32 -> next state, scene (B, D) float64,
        uncertainty (B,)."""
        scenes, actions = state.scenes.numpy(), state.actions.numpy()
        nxt, unc = self._predict_numpy(scenes, actions, action)
        new = WMState(torch.from_numpy(np.concatenate([scenes[:, 1:], nxt[:, None]], axis=1)),
                      torch.from_numpy(np.concatenate([actions[:, 1:], action[:, None]], axis=1)),
                      torch.from_numpy(state.t.numpy() + 1))
        return new, nxt.astype(np.float64), unc

    @torch.no_grad()
    def _step_torch(self, state: WMState, action: np.ndarray) -> tuple[WMState, np.ndarray, np.ndarray]:
        """The torch path (training mode or another device): same contract as ``_step_numpy``."""
        act_t = torch.from_numpy(action).to(state.scenes.device)
        nxt, unc = self._predict_torch(state.scenes, state.actions, act_t)
        new = WMState(torch.cat([state.scenes[:, 1:], nxt[:, None]], dim=1),
                      torch.cat([state.actions[:, 1:], act_t[:, None]], dim=1), state.t + 1)
        return new, nxt.double().cpu().numpy(), unc.cpu().numpy()

    # ---- training ----
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Multi-step rollout loss; each member rolls out on its own predictions.

        batch: ``scenes`` (B, n_hist + K, D), ``actions`` (B, n_hist + K, A) where actions[:, i] led
        into scenes[:, i]; the model starts from the first n_hist scenes and predicts the next K.
        """
        scenes, actions = batch["scenes"], batch["actions"]
        h, k, e = self.config.n_hist, scenes.shape[1] - self.config.n_hist, self.config.members
        hist = scenes[None, :, :h].expand(e, -1, -1, -1)
        acts = actions[None, :, :h].expand(e, -1, -1, -1)
        loss, first = 0.0, None
        for j in range(k):
            a = actions[None, :, h + j].expand(e, -1, -1)
            d = self.deltas(self.codec.inputs(hist, acts, a))
            nxt = self.codec.apply(hist[:, :, -1], d, a)
            sq = (self.codec.points(nxt) - self.codec.points(scenes[None, :, h + j])).pow(2).sum(-1)  # (E, B, P)
            step_loss = (sq / self.codec.DELTA_SCALE**2).mean()
            first = step_loss if first is None else first
            loss = loss + step_loss
            hist = torch.cat([hist[:, :, 1:], nxt[:, :, None]], dim=2)
            acts = torch.cat([acts[:, :, 1:], a[:, :, None]], dim=2)
        return loss / k, {"loss_1step": float(first.detach())}
