"""The whole Hi-WM loop on one task, as cached stages (what `hiwm run` runs).

    demos -> base policy ----------------------------.
    play  -> world model -> accuracy report            |
                 |                                     v
                 +--> Hi-WM campaign (scripted operator) -> post-train  --> evaluate in the
                 +--> WM-CL rollouts (judge keeps successes) -> post-train     simulator and the model
                                                                                -> report

Every stage writes into the run folder and is skipped when its output is already there, so a rerun
(or a run killed part-way) only does what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features
from hiwm.errors import HiwmError
from hiwm.evaluation.metrics import wilson_interval
from hiwm.evaluation.runner import RolloutResult, rollout
from hiwm.evaluation.wm_accuracy import expert_in_model, heldout_episodes, open_loop_errors
from hiwm.policies import load_policy
from hiwm.policies.expert import ExpertPolicy
from hiwm.recipe import RunConfig, as_dict
from hiwm.session.operators import TASK_DEFAULTS
from hiwm.stages import (SEED_OFFSET, SEEDS, checkpoint_name, collect_episodes, correction_windows, episode_steps,
                         evaluate_policy, evaluation_seeds, finetune_policy, policy_windows, run_correction_campaign,
                         train_base_policy, train_world_model)
from hiwm.tasks import task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.vector import SimVecEnv
from hiwm.world_models import WorldModelVecEnv, load_world_model

log = logging.getLogger(__name__)

VARIANTS = ("base", "wm_cl", "hiwm")  # always run; "real_hg_dagger" too with RunConfig.real_hg_dagger


class Pipeline:
    def __init__(self, cfg: RunConfig, run_dir: str | Path, progress: bool = True):
        self.task = task_class(cfg.task)  # an unknown task fails before anything is written
        self.cfg, self.dir, self.progress = cfg, Path(run_dir), progress
        self.dir.mkdir(parents=True, exist_ok=True)
        _check_same_settings(cfg, self.dir / "config.json")
        timing = self.dir / "timing.json"  # stage times survive reruns that skip the stage
        self.timing: dict[str, float] = json.loads(timing.read_text()) if timing.exists() else {}
        self._write_json("config.json", as_dict(cfg))  # the exact config: `hiwm run --config` reruns it

    # ------------------------------------------------------------ helpers ----
    def _write_json(self, name: str, obj) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
        os.replace(tmp, path)
        return path

    def _timed(self, key: str, fn):
        t = time.perf_counter()
        out = fn()
        self.timing[key] = self.timing.get(key, 0.0) + time.perf_counter() - t
        self._write_json("timing.json", self.timing)
        return out

    # ------------------------------------------------------------- stages ----
    def collect_data(self) -> tuple[LeRobotDataset, LeRobotDataset]:
        return tuple(self._timed("collect", lambda k=kind, f=folder: collect_episodes(
            self.cfg, k, self.dir / "data" / f, progress=self.progress))
            for kind, folder in (("expert", "demos"), ("play", "play")))

    def base_policy(self, demos: LeRobotDataset):
        path = self.dir / "policies" / "base"
        if not (path / "model.safetensors").exists():
            policy, summary = self._timed("train_policy", lambda: train_base_policy(
                self.cfg, [demos], demos.stats, progress=self.progress, checkpoints_dir=self.dir / "policies"))
            policy.save(path)
            self._write_json("policies/base/train.json", summary)
        return load_policy(path, device=self.cfg.device)

    def policy_play(self, base) -> LeRobotDataset | None:
        """The base policy's own states for the world model (None when data.policy_play_episodes is 0)."""
        if not self.cfg.data.policy_play_episodes:
            return None
        return self._timed("collect", lambda: collect_episodes(self.cfg, "policy", self.dir / "data" / "policy_play",
                                                               policy=base, progress=self.progress))

    def world_model(self, datasets: list[LeRobotDataset]):
        path = self.dir / "world_model"
        if not (path / "model.safetensors").exists():
            model, summary = self._timed("train_wm", lambda: train_world_model(self.cfg, datasets, self.progress))
            model.save(path)
            self._write_json("world_model/train.json", summary)
        return load_world_model(path, device=self.cfg.device)

    def wm_accuracy(self, wm) -> dict:
        """Open-loop error against horizon on held-out simulator episodes (evaluation/wm_accuracy.py)."""
        path = self.dir / "wm_accuracy.json"
        if path.exists():
            return json.loads(path.read_text())
        c, n = self.cfg, self.cfg.evaluation.accuracy_episodes
        acc = open_loop_errors(wm, heldout_episodes(c.task, n, episode_steps(c), SEEDS["eval"]), seed=c.seed)
        acc["expert_in_model"] = expert_in_model(wm, list(range(SEEDS["eval"], SEEDS["eval"] + n)), episode_steps(c))
        return json.loads(self._write_json("wm_accuracy.json", acc).read_text())  # as a rerun reads it

    def campaign(self, kind: str, policy, model) -> dict:
        """Hi-WM's corrections in the world model, or Real HG-DAgger's in the simulator; returns the cost."""
        out = self.dir / kind
        if not (out / "cost.json").exists():
            cost = self._timed(kind, lambda: run_correction_campaign(self.cfg, policy, model, out, kind, self.progress))
            self._write_json(f"{kind}/cost.json", cost)
        return json.loads((out / "cost.json").read_text())

    def wm_cl_data(self, policy, wm) -> Path:
        """WM-CL: the base rolled out in the world model from Hi-WM's initial states, the judged-successful kept."""
        out = self.dir / "wm_cl"
        root, marker = out / "kept", out / "done.json"
        if marker.exists():
            return root
        seeds = list(range(SEEDS["hiwm"], SEEDS["hiwm"] + self.cfg.wm_cl.rollouts))
        res = self._timed("wm_cl", lambda: rollout(WorldModelVecEnv(wm), policy, seeds, episode_steps(self.cfg),
                                                    seed=self.cfg.seed + SEED_OFFSET["wm_cl"], record=True,
                                                    progress=self.progress, desc="wm-cl rollouts"))
        spec = self.task.spec_
        frames = bool(res.episodes) and "obs_image" in res.episodes[0]  # kept as the policy saw them
        feats = standard_features(spec.agent_dim, spec.action_dim, env_dim=spec.env_dim,
                                  image_size=res.episodes[0]["obs_image"].shape[1] if frames else None)
        if root.exists():
            shutil.rmtree(root)
        with DatasetWriter.create(root, fps=spec.fps, features=feats) as writer:
            for seed, ep, ok in zip(seeds, res.episodes, res.success):
                if not ok:
                    continue
                # Up to the step the judge first calls success, as the demonstrations end: what the policy
                # does after that (dithering at the goal until 0.95 or the step limit) is not a success to copy.
                T = int(np.argmax(ep["success"])) + 1
                ep = {k: v[:T] for k, v in ep.items() if k != "scene"}
                writer.add_episode({STATE_KEY: ep["obs_state"], ENV_KEY: ep["obs_env"], "action": ep["action"],
                                    **({IMAGE_KEY: ep["obs_image"]} if frames else {}),
                                    "next.reward": ep["progress"], "next.success": ep["success"],
                                    "source": np.full(T, "policy", dtype=object),
                                    "wm_checkpoint": np.full(T, wm.checkpoint_id(), dtype=object)},
                                   task=spec.description, meta={"initial_seed": seed})
        self._write_json("wm_cl/done.json", {"rollouts": len(seeds), "kept": int(res.success.sum())})
        return root

    def finetune(self, name: str, demos: LeRobotDataset, new_windows):
        path = self.dir / "policies" / name
        if not (path / "model.safetensors").exists():
            cfg = self.cfg
            if name == "wm_cl":  # WM-CL's own fine-tuning lr and data share, where set
                own = {k: getattr(cfg.wm_cl, k) for k in ("lr", "new_data_weight") if getattr(cfg.wm_cl, k) is not None}
                cfg = replace(cfg, finetune=replace(cfg.finetune, **own))
            policy, summary = self._timed("finetune", lambda: finetune_policy(
                cfg, self.dir / "policies" / "base", [demos], new_windows, self.progress))
            policy.save(path)
            self._write_json(f"policies/{name}/train.json", summary)
        return load_policy(path, device=self.cfg.device)

    def evaluate(self, name: str, policy, wm) -> dict:
        path = self.dir / "eval" / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
        out = {}
        for kind, env in (("sim", SimVecEnv(self.cfg.task)), ("wm", WorldModelVecEnv(wm))):
            res: RolloutResult = self._timed("eval", lambda env=env, kind=kind: evaluate_policy(
                self.cfg, policy, env, progress=self.progress, desc=f"eval {name} ({kind})"))
            out[kind] = {"success": res.success.tolist(), "terminal_success": res.terminal_success.tolist(),
                         "max_progress": res.max_progress.tolist(), "steps": res.steps.tolist()}
        self._write_json(f"eval/{name}.json", out)
        return out

    def probes(self, wm) -> dict:
        """More points for judging the world model as an evaluator: the base's saved checkpoints and the policies
        nobody trained for the task, each in the simulator and the model -> {name: success rates, lineage}."""
        out = {}
        for f in self.cfg.evaluation.checkpoints:
            path = self.dir / "policies" / checkpoint_name(f)
            if not (path / "model.safetensors").exists():  # a base trained before the setting was given
                log.warning("no %s checkpoint in %s: left out", checkpoint_name(f), path.parent)
                continue
            out[checkpoint_name(f)] = (lambda p=path: load_policy(p, device=self.cfg.device), "base")
        for name in self.cfg.evaluation.outsiders:
            out[name] = (lambda n=name: ExpertPolicy.outsider(self.cfg.task, n, seed=self.cfg.seed), "expert")
        probes = {}
        for name, (make, lineage) in out.items():
            ev = self.evaluate(f"probes/{name}", make(), wm)
            probes[name] = {"sim_success": float(np.mean(ev["sim"]["success"])),
                            "wm_success": float(np.mean(ev["wm"]["success"])),
                            "episodes": len(ev["sim"]["success"]), "lineage": lineage}
        return probes

    def _world_model_data_cost(self) -> dict:
        """Simulator ("robot") steps spent on the world model's own data (play and policy play), no person; the
        model is trained once and serves WM-CL and Hi-WM alike (the expert demos are the base's data)."""
        play, policy = (_frames(self.dir / "data" / k) for k in ("play", "policy_play"))
        return {"robot_steps": play + policy, "play_steps": play, "policy_play_steps": policy}

    # ---------------------------------------------------------------- all ----
    def shared(self) -> tuple:
        """What every method starts from: (demos, base policy, world model)."""
        demos, play = self.collect_data()
        base = self.base_policy(demos)
        policy_play = self.policy_play(base)
        return demos, base, self.world_model([ds for ds in (demos, play, policy_play) if ds is not None])

    def method(self, name: str, demos: LeRobotDataset, base, wm):
        """One method's policy: its new data (Hi-WM's or Real HG-DAgger's corrections, WM-CL's kept rollouts) and
        the base fine-tuned on it; "base" is the base itself."""
        if name == "base":
            return base
        if name == "wm_cl":
            kept = LeRobotDataset(self.wm_cl_data(base, wm))
            return self.finetune("wm_cl", demos, policy_windows(self.cfg, [kept], base) if kept.num_episodes else None)
        kind = next((k for k, v in _VARIANT.items() if v == name), None)
        if kind is None:
            raise HiwmError(f"unknown method {name!r} (known: base, wm_cl, {', '.join(_VARIANT.values())})")
        self.campaign(kind, base, wm)
        return self.finetune(name, demos, correction_windows(self.cfg, base, [self.dir / kind / "corrections"]))

    def run(self) -> dict:
        t0 = time.perf_counter()
        demos, base, wm = self.shared()
        accuracy = self.wm_accuracy(wm)
        names = ("base", "hiwm", *(("real_hg_dagger",) if self.cfg.real_hg_dagger else ()), "wm_cl")
        policies = {name: self.method(name, demos, base, wm) for name in names}
        costs = {_VARIANT[kind]: json.loads((self.dir / kind / "cost.json").read_text())
                 for kind in ("hiwm", "hg_dagger") if _VARIANT[kind] in policies}
        evals = {name: self.evaluate(name, policies[name], wm) for name in (*VARIANTS, *policies.keys() - VARIANTS)}
        probes = self.probes(wm)
        results = self.results(evals, costs, accuracy, time.perf_counter() - t0)
        results["probes"] = probes
        self._write_json("results.json", results)
        return results

    def results(self, evals: dict, costs: dict, accuracy: dict, wall: float) -> dict:
        c = self.cfg
        op = c.operator.for_task(self.task.spec_)
        methods = {}
        for name, ev in evals.items():
            sim, wm = np.array(ev["sim"]["success"]), np.array(ev["wm"]["success"])
            methods[name] = {"sim_success": float(sim.mean()), "sim_ci95": list(wilson_interval(int(sim.sum()), len(sim))),
                             "sim_terminal_success": float(np.mean(ev["sim"]["terminal_success"])),
                             "wm_success": float(wm.mean()), "wm_ci95": list(wilson_interval(int(wm.sum()), len(wm))),
                             "episodes": len(sim)}
        wmcl = json.loads((self.dir / "wm_cl" / "done.json").read_text())
        seeds = evaluation_seeds(c)
        return {
            "task": c.task, "backbone": c.policy.type, "world_model": c.world_model.type, "seed": c.seed,
            "protocol": {"demos": c.data.expert_episodes, "H": op.horizon, "r": op.rollback, "K": op.branches,
                         "B": op.budget, "finetune_steps": c.finetune.steps, "finetune_lr": c.finetune.lr,
                         "policy_steps": c.policy_training.steps, "wm_steps": c.world_model_training.steps,
                         "play_episodes": c.data.play_episodes, "wm_policy_episodes": c.data.policy_play_episodes,
                         "wm_cl_rollouts": c.wm_cl.rollouts, "recoveries": c.finetune.recoveries,
                         "max_corrections": op.max_corrections, "eval_seeds": [seeds[0], seeds[-1] + 1],
                         "operator": {k: getattr(op, k) for k in TASK_DEFAULTS}},
            "config": as_dict(c),
            "methods": methods,
            "cost": {**{name: {k: cost[k] for k in ("operator_steps", "robot_steps", "resets", "failure_states",
                                                     "branches", "sessions")} for name, cost in costs.items()},
                     "wm_cl": {"rollouts": wmcl["rollouts"], "kept": wmcl["kept"], "robot_steps": 0},
                     "world_model_data": self._world_model_data_cost()},
            "wm_accuracy": accuracy,
            "timing_s": {k: round(v, 1) for k, v in self.timing.items()} | {"total": round(sum(self.timing.values()), 1),
                                                                            "this_invocation": round(wall, 1)},
            "machine": machine_description(),
        }


# Settings a finished stage's output does not depend on: a rerun may change them in the same run folder.
RERUN_SAFE = ("real_hg_dagger", "device", "evaluation.checkpoints", "evaluation.outsiders")


def _frames(root: Path) -> int:
    return len(LeRobotDataset(root)) if (root / "meta" / "info.json").exists() else 0


def _check_same_settings(cfg: RunConfig, path: Path) -> None:
    """Stages are cached by folder, so a run folder made with other settings would silently serve stale
    stages: refuse it, naming the settings that differ."""
    if not path.exists():
        return
    before, now = _flat(json.loads(path.read_text())), _flat(as_dict(cfg))
    safe = lambda k: any(k == s or k.startswith(s + ".") for s in RERUN_SAFE)  # noqa: E731
    differ = sorted(k for k in set(before) | set(now) if not safe(k) and before.get(k) != now.get(k))
    if differ:
        raise HiwmError(f"{path.parent}: this run folder was made with other settings ({', '.join(differ[:6])}"
                        f"{', ...' if len(differ) > 6 else ''}); use another --out (finished stages are reused by folder)")


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


_VARIANT = {"hiwm": "hiwm", "hg_dagger": "real_hg_dagger"}  # campaign kind -> the variant it post-trains


def machine_description() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
