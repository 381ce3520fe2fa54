"""The stages of a Hi-WM run, each a function of the RunConfig: what `hiwm run` chains and each stage command calls.

    collect_episodes(cfg, "expert", out)                 -> LeRobotDataset     (also "play", "policy")
    train_base_policy(cfg, datasets)                     -> (policy, summary)
    train_world_model(cfg, datasets)                     -> (world model, summary)
    run_correction_campaign(cfg, policy, model, out)     -> cost            (Hi-WM; Real HG-DAgger in the simulator)
    finetune_policy(cfg, base_dir, demos, new_windows)   -> (policy, summary)
    evaluate_policy(cfg, policy, env)                    -> RolloutResult

Seeds follow the protocol's ranges (SEEDS) shifted by the run's seed, and every training's seed is the run's
plus a fixed offset, so a stage run alone gives what it gives inside the whole run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hiwm.data import EpisodeWindows, LeRobotDataset, WindowMixture
from hiwm.data.collect import collect
from hiwm.data.images import with_images
from hiwm.errors import HiwmError
from hiwm.evaluation.runner import RolloutResult, rollout
from hiwm.policies import load_policy, make_policy
from hiwm.policies.frame import fit_frame_stats
from hiwm.recipe import RunConfig, TrainingConfig
from hiwm.session.campaign import run_campaign
from hiwm.session.export import correction_episodes
from hiwm.tasks import task_class
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.training import TrainConfig, train
from hiwm.world_models import SimulatorConfig, SimulatorModel, make_world_model_config
from hiwm.world_models.training import fit_world_model

SEEDS = {"demos": 0, "play": 10_000, "hiwm": 20_000, "hg_dagger": 30_000, "eval": 100_000}
VALIDATION_SEED = 9_000  # unused initial states of the demonstration range: what settings are tuned on
# each training's seed: the run's plus its own offset (the base policy 1, the world model 2, fine-tunes 4)
SEED_OFFSET = {"policy": 1, "world_model": 2, "wm_cl": 3, "finetune": 4, "eval": 5}
COLLECT_KINDS = ("expert", "play", "policy")


def episode_steps(cfg: RunConfig) -> int:
    return cfg.data.episode_steps or task_class(cfg.task).spec_.max_steps


def _train_cfg(cfg: RunConfig, t: TrainingConfig, offset: str, **kw) -> TrainConfig:
    return TrainConfig(steps=t.steps, batch_size=t.batch_size, lr=t.lr, seed=cfg.seed + SEED_OFFSET[offset],
                       device=cfg.device, warmup_steps=min(200, t.steps // 10), log_every=t.log_every, **kw)


def collect_episodes(cfg: RunConfig, kind: str, out: str | Path, policy=None, progress: bool = True) -> LeRobotDataset:
    """The run's ``kind`` episodes into ``out``: expert demonstrations, scripted play, or the base ``policy`` with
    play stretches (for the world model). Each kind has 500 of the run's 1 000 seeds in its protocol range."""
    d = cfg.data
    count, first = {"expert": (d.expert_episodes, SEEDS["demos"]), "play": (d.play_episodes, SEEDS["play"]),
                    "policy": (d.policy_play_episodes, SEEDS["play"] + 500)}[kind]
    if kind != "expert" and count > 500:
        raise HiwmError(f"data.{kind.replace('policy', 'policy_play')}_episodes is at most 500, got {count}")
    if kind == "policy" and policy is None:
        raise HiwmError("collecting policy play needs the base policy (--policy CKPT)")
    images = bool(policy is not None and policy.config.uses_images)  # an image policy acts on frames
    mode = "expert" if kind == "expert" else kind
    return collect(cfg.task, mode, count, out, first + cfg.seed * 1000, images=images, progress=progress,
                   max_steps=episode_steps(cfg), policy=policy)


def policy_windows(cfg: RunConfig, sources: list, policy, mask_key: str | None = None) -> EpisodeWindows:
    """Training windows for ``policy``; for an image policy, frames are rendered where a source has none (demos
    are collected without images; corrections and WM-CL rollouts hold predicted low-dim states)."""
    pc = policy.config
    if pc.uses_images:
        sources = with_images(sources, task_class(cfg.task))
    return EpisodeWindows(sources, obs_keys=pc.input_features, n_obs_steps=pc.n_obs_steps, horizon=pc.horizon,
                          mask_key=mask_key)


def train_base_policy(cfg: RunConfig, datasets: list, stats: dict, progress: bool = True,
                      checkpoints_dir: str | Path | None = None):
    """A new ``cfg.policy`` trained on ``datasets`` (LeRobotDatasets or episode dicts) with ``stats`` -> (policy,
    summary); with ``checkpoints_dir``, also saved there as ``base@F`` at each fraction F of ``evaluation.checkpoints``."""
    spec = task_class(cfg.task).spec_
    fields = {k: v for k, v in vars(cfg.policy).items() if k not in ("type", "action_dim", "feature_dims", "device")}
    policy = make_policy(cfg.policy.type, seed=cfg.seed + SEED_OFFSET["policy"], action_dim=spec.action_dim,
                         feature_dims={STATE_KEY: spec.agent_dim, ENV_KEY: spec.env_dim}, device=cfg.device, **fields)
    policy.set_stats(stats)
    windows = policy_windows(cfg, datasets, policy)
    fit_frame_stats(policy, windows)
    tc = _train_cfg(cfg, cfg.policy_training, "policy")
    at = {max(1, round(f * tc.steps)): f for f in cfg.evaluation.checkpoints if 0 < f < 1} if checkpoints_dir else {}
    summary = train(policy, windows.sample, tc, progress=progress, snapshots=at,
                    on_snapshot=lambda step, p: p.save(Path(checkpoints_dir) / checkpoint_name(at[step])))
    return policy, summary


def checkpoint_name(fraction: float) -> str:
    return f"base@{fraction:g}"


def train_world_model(cfg: RunConfig, datasets: list[LeRobotDataset], progress: bool = True):
    """A new ``cfg.world_model`` trained on ``datasets`` -> (model, summary)."""
    wm_cfg = make_world_model_config(cfg.world_model.type, **{**vars(cfg.world_model), "task": cfg.task})
    tc = _train_cfg(cfg, cfg.world_model_training, "world_model", ema_decay=None, weight_decay=1e-5)
    return fit_world_model(wm_cfg, list(datasets), tc, progress=progress)


def run_correction_campaign(cfg: RunConfig, policy, model, out: str | Path, kind: str = "hiwm",
                            progress: bool = True) -> dict:
    """Hi-WM (``kind`` "hiwm": the operator in the world model) or Real HG-DAgger ("hg_dagger": the same operator
    and budget in the simulator, "on the robot"). A robot cannot be rolled back, so HG-DAgger corrects where it
    notices (r = 0) on the one line it has (K = 1); its steps are robot steps, its episodes resets."""
    op = cfg.operator
    if kind == "hg_dagger":
        op, model = replace(op, rollback=0, branches=1), SimulatorModel(SimulatorConfig(task=cfg.task))
    seeds = list(range(SEEDS[kind], SEEDS[kind] + 1000))
    cost = run_campaign(policy, model, seeds, out, op, seed=cfg.seed, progress=progress, max_steps=episode_steps(cfg))
    cost["first_seed"] = SEEDS[kind]
    return cost


def correction_windows(cfg: RunConfig, policy, roots: list[Path]) -> EpisodeWindows | None:
    """Hi-WM's (and Real HG-DAgger's) new data: each branch's corrective steps and, with ``finetune.recoveries``,
    a successful branch's recovery after the hand-back (session/export.py)."""
    episodes = correction_episodes(roots, outcomes=cfg.finetune.recoveries)
    return policy_windows(cfg, episodes, policy, mask_key="train_mask") if episodes else None


def finetune_policy(cfg: RunConfig, base_dir: str | Path, demos: list, new: EpisodeWindows | None,
                    progress: bool = True):
    """The base checkpoint fine-tuned on ``demos`` + ``new`` windows (``finetune.new_data_weight`` of each batch)
    -> (policy, summary); ``new`` None fine-tunes on the demonstrations alone."""
    policy = load_policy(base_dir, device=cfg.device)
    base = policy_windows(cfg, demos, policy)
    w = cfg.finetune.new_data_weight
    sampler = base if new is None else WindowMixture([base, new], [1 - w, w])
    summary = train(policy, sampler.sample, _train_cfg(cfg, cfg.finetune, "finetune"), progress=progress)
    return policy, summary


def evaluation_seeds(cfg: RunConfig) -> list[int]:
    e = cfg.evaluation
    return list(range(e.first_seed, e.first_seed + e.episodes))


def evaluate_policy(cfg: RunConfig, policy, env, record: bool = False, progress: bool = True,
                    desc: str = "eval") -> RolloutResult:
    """``evaluation.episodes`` episodes from ``evaluation.first_seed`` in ``env`` (the simulator or a world model)."""
    return rollout(env, policy, evaluation_seeds(cfg), episode_steps(cfg), seed=cfg.seed + SEED_OFFSET["eval"],
                   record=record, progress=progress, desc=desc)
