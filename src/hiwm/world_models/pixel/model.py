"""The pixel world model: camera frames in, camera frames out; the object's state is never an input.

    frame (B, S, S, 3) --encoder--> latent (B, C, L, L) ---.
    the robot's own state (B, D_agent), action (B, A) ------+--> latent dynamics over h latents (an ensemble)
                                                            '--> the robot's own next state (an MLP)
    next latent --decoder--> predicted frame --perception head--> the object's state, read off the frame

Per step it returns the predicted frame (``observation.image``), the robot's predicted state and what the
perception head reads off the predicted frame (``observation.environment_state``); the task's success judge,
progress and the scripted operator see only that reading. The uncertainty is the dynamics members'
disagreement on the next latent (mean variance, in latent standard deviations).
Training is staged (fit.py): autoencoder, dynamics with multi-step open-loop losses and noise on the
conditioning latents, the decoder tuned on predicted latents, then the perception head on a labeled subset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hiwm.data.lerobot import LeRobotDataset
from hiwm.errors import HiwmError
from hiwm.tasks import task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.controls import action_layout
from hiwm.training import TrainConfig
from hiwm.world_models.base import WORLD_MODELS, TensorState, WorldModel, WorldModelConfig
from hiwm.world_models.ensemble.features import SCENE_CODECS
from hiwm.world_models.pixel.nets import MLP, Decoder, Encoder, KeypointPerception, LatentDynamics

_UNC_MAX = 1e6


@dataclass
class PixelConfig(WorldModelConfig):
    type: str = "pixel"
    task: str = "pusht"
    image_size: int = 96
    widths: tuple[int, ...] = (16, 32, 64)  # channels at S/2, S/4, S/8 (the decoder mirrors them); latent side S / 8
    latent_channels: int = 8
    n_hist: int = 3  # latents the dynamics sees
    members: int = 3  # dynamics ensemble: its disagreement is the uncertainty
    dynamics_width: int = 48
    dilations: tuple[int, ...] = (1, 2, 4)
    agent_hidden: int = 128
    perception_width: int = 8  # the keypoint head's U-Net width (reports/pixel-world-model)
    rollout_steps: int = 6  # open-loop steps per training window (dynamics and decoder stages)
    latent_noise: float = 0.05  # noise on the conditioning latents while training, in latent std units
    perception_labels: int = 2000  # labeled frames the perception head learns from (a real user labels few)
    # shares of the training steps: autoencoder, dynamics, decoder on predicted latents, perception head
    stages: tuple[float, ...] = (0.24, 0.36, 0.1, 0.3)


@dataclass(frozen=True)
class PixelState(TensorState):
    """latents: (B, h, C, L, L) the last h frames' latents, oldest first; agents: (B, h, D_agent) the robot's own
    state at those frames; actions: (B, h, A) the action into each (at rest: hold still); t: (B,) steps taken."""

    latents: torch.Tensor
    agents: torch.Tensor
    actions: torch.Tensor
    t: torch.Tensor


@WORLD_MODELS.register("pixel")
class PixelWorldModel(WorldModel):
    config_class = PixelConfig
    state_class = PixelState

    def __init__(self, config: PixelConfig):
        super().__init__()
        self.config, self.task = config, task_class(config.task)
        spec = self.task.spec_
        if config.image_size % 16 or len(config.widths) != 3 or config.members < 1:
            raise HiwmError(f"pixel world model: image_size must be a multiple of 16, widths 3 sizes and members at "
                            f"least 1, got {config.image_size}, {config.widths} and {config.members}")
        self.layout = action_layout(spec)
        if spec.agent_dim < spec.action_dim and self.layout.agent_is_action:
            raise HiwmError(f"pixel world model: {spec.name}'s agent state is too short to hold still")
        self.codec = SCENE_CODECS.get(config.task)(config.n_hist)  # the object-error measures (wm_accuracy)
        c, h, a, g = config.latent_channels, config.n_hist, spec.action_dim, spec.agent_dim
        self.side = config.image_size // 8
        self.encoder, self.decoder = Encoder(config.widths, c), Decoder(config.widths, c)
        n_cond = h * g + h * a + a
        self.dynamics = LatentDynamics(h * c + 4, c, config.dynamics_width, n_cond, config.dilations, config.members)
        self.agent_net = MLP(n_cond, g, config.agent_hidden)
        self.perception = self.new_perception()
        for name, dim in (("z", c), ("agent", g), ("action", a), ("dagent", g), ("env", spec.env_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))
        ys, xs = torch.meshgrid(torch.linspace(0, 1, self.side), torch.linspace(0, 1, self.side), indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys]), persistent=False)  # (2, L, L) picture coordinates

    @classmethod
    def fit(cls, config: PixelConfig, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
            progress: bool = True) -> tuple["PixelWorldModel", dict]:
        """Staged training on the datasets' camera frames (drawn from their states where none were stored)."""
        from hiwm.world_models.pixel.fit import fit_pixel_model  # the trainer imports this module

        return fit_pixel_model(cls, config, datasets, train_cfg, progress)

    # ------------------------------------------------------------ pieces ----
    def new_perception(self) -> KeypointPerception:
        """A perception head with fresh weights, for this task's points and picture."""
        spec = self.task.spec_
        return KeypointPerception(self.config.image_size, spec.env_dim, self.config.perception_width, spec.env_points,
                                  self.layout.view)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, S, S, 3) uint8 or (B, 3, S, S) float in [0, 1] -> normalized latents (B, C, L, L)."""
        x = frames_to_float(frames, self.config.image_size).to(self.z_mean.device)
        return (self.encoder(x) - self.z_mean[:, None, None]) / self.z_std[:, None, None]

    def decode(self, zn: torch.Tensor) -> torch.Tensor:
        """normalized latents (B, C, L, L) -> frames (B, 3, S, S) in [0, 1]."""
        return self.decoder(zn * self.z_std[:, None, None] + self.z_mean[:, None, None])

    def read(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, S, S) in [0, 1] -> the perception head's object state (B, D_env), in task units."""
        return self.perception(frames, self.env_mean, self.env_std) * self.env_std + self.env_mean

    def conditioning(self, agents: torch.Tensor, actions: torch.Tensor, action: torch.Tensor):
        """(B, h, D_agent), (B, h, A), (B, A) -> (vector (B, V), maps (B, 4, L, L)): the normalized history and
        action, and where the action's target and the robot are in the picture (a blob each) plus coordinates."""
        na = (agents - self.agent_mean) / self.agent_std
        nb = (actions - self.action_mean) / self.action_std
        nc = (action - self.action_mean) / self.action_std
        vec = torch.cat([na.flatten(1), nb.flatten(1), nc], dim=1)
        maps = torch.cat([self._blob(action), self._blob(agents[:, -1, :action.shape[1]])
                          if self.layout.agent_is_action else torch.zeros_like(self._blob(action)),
                          self.grid.expand(action.shape[0], -1, -1, -1)], dim=1)
        return vec, maps

    def _blob(self, xy_source: torch.Tensor) -> torch.Tensor:
        """(B, A) actions (or agent states) -> (B, 1, L, L): a Gaussian at their XY in picture coordinates."""
        left, right, top, bottom = self.layout.view
        ix, iy = self.layout.xy
        u = (xy_source[:, ix] - left) / (right - left)
        v = (xy_source[:, iy] - top) / (bottom - top)
        d2 = (self.grid[0] - u[:, None, None]) ** 2 + (self.grid[1] - v[:, None, None]) ** 2
        return torch.exp(-d2 / (2 * (1.5 / self.side) ** 2))[:, None]

    def predict(self, zn: torch.Tensor, agents: torch.Tensor, actions: torch.Tensor, action: torch.Tensor):
        """One step. zn (B, h, C, L, L) normalized latents -> (per-member next latents (E, B, C, L, L),
        next agent state (B, D_agent))."""
        vec, maps = self.conditioning(agents, actions, action)
        x = torch.cat([zn.flatten(1, 2), maps], dim=1)
        nxt = zn[:, -1] + self.dynamics(x, vec)
        agent = agents[:, -1] + self.agent_net(vec) * self.dagent_std + self.dagent_mean
        return nxt, agent

    def rest_action(self, agent: torch.Tensor) -> torch.Tensor:
        """(..., D_agent) -> the action that holds the robot still (..., A)."""
        return agent[..., :self.task.spec_.action_dim]

    # ----------------------------------------------------- the interface ----
    @torch.no_grad()
    def initial_state(self, obs: dict) -> PixelState:
        """obs: the camera frame ``observation.image`` ((S, S, 3) or (B, S, S, 3) uint8) and the robot's own state
        ((D_agent,) or (B, D_agent)). The object's state is not read; a caller without a frame gets one drawn
        from its low-dimensional observation (a session log resumed, a test)."""
        agent = np.asarray(obs.get(STATE_KEY))
        if agent.ndim not in (1, 2) or agent.shape[-1] != self.task.spec_.agent_dim:
            raise HiwmError(f"pixel world model: {STATE_KEY} must have shape ({self.task.spec_.agent_dim},) or "
                            f"(B, {self.task.spec_.agent_dim}), got {agent.shape}")
        frame = obs.get(IMAGE_KEY)
        if frame is None:
            frame = np.stack([self.task.render_scene(s, self.config.image_size)
                              for s in np.atleast_2d(self.task.scene_of(obs))])
        frame = np.asarray(frame)
        frame = frame[None] if frame.ndim == 3 else frame
        agent = torch.as_tensor(np.atleast_2d(agent), dtype=torch.float32, device=self.z_mean.device)
        z = self.encode(torch.as_tensor(frame))
        h = self.config.n_hist
        rest = self.rest_action(agent)
        return PixelState(z[:, None].expand(-1, h, -1, -1, -1).clone(), agent[:, None].expand(-1, h, -1).clone(),
                          rest[:, None].expand(-1, h, -1).clone(), torch.zeros(len(agent), dtype=torch.long,
                                                                               device=agent.device))

    @torch.no_grad()
    def step(self, state: PixelState, action, judge: bool = True) -> tuple[PixelState, dict, dict]:
        """action (B, A) -> (next state, {observation.image (B, S, S, 3) uint8, observation.state (B, D_agent),
        observation.environment_state (B, D_env) read off the frame}, info); info as ``WorldModel.step``."""
        act = torch.as_tensor(np.asarray(action, dtype=np.float32), device=self.z_mean.device)
        act = act[None] if act.ndim == 1 else act
        if act.shape != (state.batch_size, self.task.spec_.action_dim):
            raise HiwmError(f"{self.config.task} world model: actions must have shape ({state.batch_size}, "
                            f"{self.task.spec_.action_dim}), got {tuple(act.shape)}")
        members, agent = self.predict(state.latents, state.agents, state.actions, act)
        z = members.mean(0)
        frames = self.decode(z)
        env = self.read(frames)
        new = PixelState(torch.cat([state.latents[:, 1:], z[:, None]], 1), torch.cat([state.agents[:, 1:], agent[:, None]], 1),
                         torch.cat([state.actions[:, 1:], act[:, None]], 1), state.t + 1)
        unc = members.var(0).mean((1, 2, 3)).double().cpu().numpy() if len(members) > 1 else np.zeros(len(z))
        obs = {STATE_KEY: agent.double().cpu().numpy(), ENV_KEY: env.double().cpu().numpy(),
               IMAGE_KEY: frames_to_uint8(frames)}
        scene = self.task.scene_of(obs)
        info = {"scene": scene, "uncertainty": np.minimum(np.nan_to_num(unc, nan=_UNC_MAX), _UNC_MAX)}
        if judge:
            info["progress"], info["is_success"], info["terminal_success"] = self.task.judge_batch(scene)
        return new, obs, info

    @torch.no_grad()
    def frame(self, state: PixelState) -> np.ndarray:
        """The frame the state's newest latent decodes to (B, S, S, 3) uint8."""
        return frames_to_uint8(self.decode(state.latents[:, -1]))

    def observation_for_seed(self, seed: int) -> dict:
        """The first camera frame of ``seed``'s initial state and the robot's own state."""
        scene = self.task.initial_scene(int(seed))
        return {**self.task.observe_lowdim(scene), IMAGE_KEY: self.task.render_scene(scene, self.config.image_size)}

    @torch.no_grad()
    def state_at(self, scenes: np.ndarray, actions: np.ndarray, starts: np.ndarray) -> PixelState:
        """The true history of a recorded episode at each of ``starts``: its camera frames (drawn from the recorded
        scenes, as the simulator's camera would show them), robot states and actions -> batch N."""
        h = self.config.n_hist
        idx = np.clip(np.asarray(starts)[:, None] + np.arange(-h + 1, 1), 0, None)  # (N, h)
        obs = self.task.observe_lowdim(scenes)
        agents = torch.as_tensor(obs[STATE_KEY][idx], dtype=torch.float32, device=self.z_mean.device)
        frames = np.stack([self.task.render_scene(s, self.config.image_size) for s in scenes[idx.ravel()]])
        z = self.encode(torch.as_tensor(frames)).reshape(len(idx), h, *self.encode_shape)
        prev = np.asarray(actions, dtype=np.float32)[np.clip(idx - 1, 0, None)]
        acts = torch.as_tensor(prev, device=self.z_mean.device)
        at_rest = torch.as_tensor(idx == 0, device=acts.device)[..., None]
        acts = torch.where(at_rest, self.rest_action(agents), acts)
        return PixelState(z, agents, acts, torch.zeros(len(idx), dtype=torch.long, device=acts.device))

    @property
    def encode_shape(self) -> tuple[int, int, int]:
        return self.config.latent_channels, self.side, self.side


def frames_to_float(frames, size: int) -> torch.Tensor:
    """(B, S, S, 3) uint8 or (B, 3, S, S) float -> (B, 3, S, S) float32 in [0, 1]."""
    x = torch.as_tensor(frames)
    if x.dtype == torch.uint8:
        x = x.permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size or x.shape[-2] != size:
        raise HiwmError(f"pixel world model: frames must be {size}x{size}, got {tuple(x.shape)}")
    return x


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) float in [0, 1] -> (B, S, S, 3) uint8."""
    return (frames.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
