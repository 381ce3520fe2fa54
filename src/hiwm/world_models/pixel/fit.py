"""Staged training of the pixel world model with the one training loop (training/loop.py), a stage at a time:

1. autoencoder: frames -> latents -> frames, pixels weighted by how far they are from the empty scene (the
   object and the robot are small; the background is most of the picture);
2. dynamics (encoder frozen): from the encoded history with noise on it, ``rollout_steps`` open-loop steps on
   the recorded actions; every member's latent error at every step, the robot's own state, and the decoded
   last frame;
3. decoder on predicted latents (dynamics frozen): the frames a rollout decodes, against the recorded ones;
4. perception head on ``perception_labels`` labeled frames (real frames and their reconstructions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from hiwm.data.images import with_images
from hiwm.data.lerobot import LeRobotDataset
from hiwm.errors import HiwmError
from hiwm.seeding import seeded
from hiwm.tasks import task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.training import TrainConfig, is_main_process, train

log = logging.getLogger(__name__)
STAGES = ("autoencoder", "dynamics", "decoder", "perception")


@dataclass
class FrameData:
    """Every frame of the training episodes. frames (N, S, S, 3) uint8; agents (N, D_agent), actions (N, A),
    env (N, D_env) float32; first (N,) the index of each frame's episode start; starts (M,) valid window starts."""

    frames: torch.Tensor
    agents: torch.Tensor
    actions: torch.Tensor
    env: torch.Tensor
    first: np.ndarray
    starts: np.ndarray
    latents: torch.Tensor | None = None  # (N, C, L, L) normalized, once the encoder is trained (encoded once)


def frame_data(datasets: list[LeRobotDataset], task_name: str, size: int, h: int, k: int) -> FrameData:
    """The datasets' episodes in order, their frames drawn from their states where none were stored."""
    task = task_class(task_name)
    frames, agents, actions, env, first, starts = [], [], [], [], [], []
    n = 0
    for src in with_images(datasets, task, size):
        episodes = [src.episode(i) for i in range(src.num_episodes)] if isinstance(src, LeRobotDataset) else [src]
        for ep in episodes:
            T = len(ep["action"])
            if ep[IMAGE_KEY].shape[1:] != (size, size, 3):
                raise HiwmError(f"pixel world model: frames must be {size}x{size}, got {ep[IMAGE_KEY].shape[1:]}")
            frames.append(np.asarray(ep[IMAGE_KEY], np.uint8))
            for out, key in ((agents, STATE_KEY), (actions, "action"), (env, ENV_KEY)):
                out.append(np.asarray(ep[key], np.float32))
            first.append(np.full(T, n))
            starts.append(n + np.arange(max(0, T - k)))  # windows whose k future frames lie in the episode
            n += T
    if not n:
        raise HiwmError("pixel world model: no frames to train on")
    cat = lambda xs: torch.from_numpy(np.concatenate(xs))  # noqa: E731
    return FrameData(cat(frames), cat(agents), cat(actions), cat(env), np.concatenate(first), np.concatenate(starts))


class Windows:
    """Training windows: h history frames (clipped at the episode start, "at rest" before it) and k future ones."""

    def __init__(self, data: FrameData, h: int, k: int, rest):
        self.d, self.h, self.k, self.rest = data, h, k, rest

    def __len__(self) -> int:
        return len(self.d.starts)

    def sample(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """-> frames (n, h + k, S, S, 3) uint8, agents (n, h + k, D_agent), actions (n, h + k, A): the action into
        each history frame, then the action taken at each step of the rollout."""
        t = self.d.starts[torch.randint(len(self.d.starts), (n,), generator=gen).numpy()]
        first = self.d.first[t]
        hist = np.maximum(t[:, None] + np.arange(-self.h + 1, 1), first[:, None])  # (n, h)
        idx = np.concatenate([hist, t[:, None] + np.arange(1, self.k + 1)], axis=1)  # (n, h + k)
        agents = self.d.agents[idx]
        into = torch.where(torch.from_numpy(hist > first[:, None])[..., None], self.d.actions[np.maximum(hist - 1, 0)],
                           self.rest(agents[:, :self.h]))
        taken = self.d.actions[t[:, None] + np.arange(self.k)]
        out = {"frames": self.d.frames[idx], "agents": agents, "actions": torch.cat([into, taken], dim=1)}
        if self.d.latents is not None:
            out["latents"] = self.d.latents[idx]
        return out


def _weighted_mse(pred: torch.Tensor, target: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) frames; pixels away from the empty scene count up to 20x more."""
    w = 1 + 19 * (target - background).abs().amax(1, keepdim=True)
    return (w * (pred - target) ** 2).mean()


class _Stage(nn.Module):
    """One stage's loss over the model; only the parameters named by ``trainable`` are optimized."""

    def __init__(self, model, trainable: list[nn.Module], background: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("background", background)
        for p in model.parameters():
            p.requires_grad_(False)
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)


class AutoencoderStage(_Stage):
    def forward(self, batch):
        x = batch["frames"][:, -1].permute(0, 3, 1, 2).float() / 255.0
        loss = _weighted_mse(self.model.decoder(self.model.encoder(x)), x, self.background)
        return loss, {}


def _rollout(model, batch, noise: float):
    """Encode the window, roll the dynamics over its future actions -> (per-step member latents (k, E, B, C, L, L),
    predicted agents (k, B, D), target latents (B, h + k, C, L, L))."""
    h = model.config.n_hist
    f = batch["frames"]
    if "latents" in batch:
        target = batch["latents"]
    else:
        with torch.no_grad():
            target = model.encode(f.flatten(0, 1)).unflatten(0, f.shape[:2])
    zn = target[:, :h] + noise * torch.randn_like(target[:, :h])
    agents, actions = batch["agents"][:, :h], batch["actions"][:, :h]
    members, preds = [], []
    for j in range(f.shape[1] - h):
        act = batch["actions"][:, h + j]
        m, agent = model.predict(zn, agents, actions, act)
        members.append(m)
        preds.append(agent)
        zn = torch.cat([zn[:, 1:], m.mean(0)[:, None]], dim=1)
        agents = torch.cat([agents[:, 1:], agent[:, None]], dim=1)
        actions = torch.cat([actions[:, 1:], act[:, None]], dim=1)
    return torch.stack(members), torch.stack(preds), target


class DynamicsStage(_Stage):
    def forward(self, batch):
        model, h = self.model, self.model.config.n_hist
        members, agents, target = _rollout(model, batch, model.config.latent_noise)
        future = target[:, h:].transpose(0, 1)  # (k, B, C, L, L)
        latent = ((members - future[:, None]) ** 2).mean()
        agent = (((agents - batch["agents"][:, h:].transpose(0, 1)) / model.dagent_std) ** 2).mean()
        last = batch["frames"][:, -1].permute(0, 3, 1, 2).float() / 255.0
        pixels = _weighted_mse(model.decode(members[-1].mean(0)), last, self.background)
        return latent + 0.1 * agent + pixels, {"latent": latent.detach(), "agent": agent.detach()}


class DecoderStage(_Stage):
    def forward(self, batch):
        model, h = self.model, self.model.config.n_hist
        with torch.no_grad():
            members, _, target = _rollout(model, batch, 0.0)
        pred = members.mean(1).transpose(0, 1).flatten(0, 1)  # (B * k, C, L, L)
        real = batch["frames"][:, h:].flatten(0, 1).permute(0, 3, 1, 2).float() / 255.0
        both = torch.cat([pred, target[:, h:].flatten(0, 1)])
        return _weighted_mse(model.decode(both), torch.cat([real, real]), self.background), {}


class PerceptionStage(_Stage):
    """Real labeled frames, and half the time their reconstructions (what a predicted frame looks like)."""

    def forward(self, batch):
        model = self.model
        x = batch["frames"].permute(0, 3, 1, 2).float() / 255.0
        pick = (torch.rand(len(x), 1, 1, 1) < 0.5).to(x.device)
        x = torch.where(pick, batch["recon"], x)
        target = (batch["env"] - model.env_mean) / model.env_std
        return ((model.perception(x, model.env_mean, model.env_std) - target) ** 2).mean(), {}


def _set_stats(model, data: FrameData, labeled: np.ndarray) -> None:
    """Normalization of the robot's state, actions, state changes and the labeled object states."""
    same = torch.from_numpy(data.first[1:] == data.first[:-1])
    delta = (data.agents[1:] - data.agents[:-1])[same]
    for name, x in (("agent", data.agents), ("action", data.actions), ("dagent", delta), ("env", data.env[labeled])):
        getattr(model, f"{name}_mean").copy_(x.mean(0))
        getattr(model, f"{name}_std").copy_(x.std(0).clamp_min(1e-4))


@torch.no_grad()
def _encode_all(model, data: FrameData, gen: torch.Generator) -> FrameData:
    """The latents' normalization from 2 048 frames, then every frame encoded once (the later stages' targets)."""
    idx = torch.randint(len(data.frames), (min(2048, len(data.frames)),), generator=gen)
    z = torch.cat([model.encoder(c.permute(0, 3, 1, 2).float() / 255.0) for c in data.frames[idx].split(256)])
    model.z_mean.copy_(z.mean((0, 2, 3)))
    model.z_std.copy_(z.std((0, 2, 3)).clamp_min(1e-3))
    model.eval()
    return replace(data, latents=torch.cat([model.encode(c) for c in data.frames.split(512)]))


@torch.no_grad()
def _labeled_sampler(model, data: FrameData, labeled: np.ndarray):
    """Batches of the labeled frames with their object states and reconstructions (made once: the autoencoder
    is frozen by then)."""
    frames, env = data.frames[labeled], data.env[labeled]
    recon = torch.cat([model.decode(model.encode(c)) for c in frames.split(256)])

    def sample(n: int, g: torch.Generator) -> dict:
        i = torch.randint(len(labeled), (n,), generator=g)
        return {"frames": frames[i], "env": env[i], "recon": recon[i]}
    return sample


def _background(data: FrameData, gen: torch.Generator) -> torch.Tensor:
    """The empty scene: the per-pixel median of 512 training frames, (3, S, S) in [0, 1]."""
    frames = data.frames[torch.randint(len(data.frames), (512,), generator=gen)].float().median(0).values
    return frames.permute(2, 0, 1) / 255.0


def retrain_perception(model, data: FrameData, labels: int, train_cfg: TrainConfig, progress: bool = True) -> dict:
    """The perception head alone, from fresh weights, on ``labels`` labeled frames of ``data`` (how its error
    depends on how many frames a person labels) -> the training summary."""
    gen = torch.Generator().manual_seed(train_cfg.seed)
    labeled = torch.randperm(len(data.frames), generator=gen)[:labels].numpy()
    env = data.env[labeled]
    model.env_mean.copy_(env.mean(0))
    model.env_std.copy_(env.std(0).clamp_min(1e-4))
    with seeded(train_cfg.seed):
        fresh = model.new_perception()
    model.perception.load_state_dict(fresh.state_dict())
    stage = PerceptionStage(model, [model.perception], _background(data, gen))
    model.eval()
    summary = train(stage, _labeled_sampler(model, data, labeled), replace(train_cfg, ema_decay=None),
                    progress=progress)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return summary


def fit_pixel_model(cls, config, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
                    progress: bool = True) -> tuple[nn.Module, dict]:
    """Build ``cls(config)`` (weights from ``train_cfg.seed``) and train it stage by stage -> (model, summary)."""
    if len(config.stages) != len(STAGES) or min(config.stages) < 0 or not sum(config.stages) > 0:
        raise HiwmError(f"pixel world model: stages must be {len(STAGES)} shares >= 0, got {config.stages}")
    with seeded(train_cfg.seed):
        model = cls(config)
    h, k = config.n_hist, config.rollout_steps
    data = frame_data(datasets, config.task, config.image_size, h, k)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    labeled = torch.randperm(len(data.frames), generator=gen)[:config.perception_labels].numpy()
    _set_stats(model, data, labeled)
    background = _background(data, gen)
    windows = Windows(data, h, k, model.rest_action)
    frames = Windows(replace(data, starts=np.arange(len(data.frames))), 1, 0, model.rest_action)
    shares = np.asarray(config.stages, dtype=float) / sum(config.stages)
    steps = np.maximum(1, np.round(shares * train_cfg.steps).astype(int))
    b = train_cfg.batch_size
    plan = [(AutoencoderStage, [model.encoder, model.decoder], lambda: frames.sample, b),
            (DynamicsStage, [model.dynamics, model.agent_net], lambda: windows.sample, max(1, b // 4)),
            (DecoderStage, [model.decoder], lambda: windows.sample, max(1, b // 8)),
            (PerceptionStage, [model.perception], lambda: _labeled_sampler(model.eval(), data, labeled), b)]
    summary, start = {"stages": {}, "frames": len(data.frames), "labeled": len(labeled)}, time.perf_counter()
    for i, (name, (stage_cls, parts, sampler, batch)) in enumerate(zip(STAGES, plan)):
        if name == "dynamics":
            windows.d = _encode_all(model, data, gen)
        stage = stage_cls(model, parts, background)
        cfg = replace(train_cfg, steps=int(steps[i]), batch_size=batch, seed=train_cfg.seed + i, ema_decay=None,
                      warmup_steps=min(train_cfg.warmup_steps, int(steps[i]) // 10))
        summary["stages"][name] = train(stage, sampler(), cfg, progress=progress)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    seconds = time.perf_counter() - start
    summary |= {"final_loss": summary["stages"]["dynamics"]["final_loss"], "steps": int(steps.sum()),
                "seconds": seconds, "it_per_s": float(steps.sum() / seconds)}
    if is_main_process():
        log.info("pixel world model trained on %d frames (%d labeled) in %.0f s", len(data.frames), len(labeled), seconds)
    return model, summary
