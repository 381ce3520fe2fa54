"""hiwm speed and scale benchmarks: one command, one table.

    python benchmarks/run.py [--policy runs/.../policies/base] [--world-model runs/.../world_model] [--json out.json]

Without checkpoints it builds the default-sized (untrained) models: speed does not depend on the weights.
Measured: world-model step at batch 1 and 256 (with and without the success judge), policy action-chunk
latency (batch 1 and 100), rollback and branch at depth 10 and 1 000, bytes per cached tree node,
simulator steps/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import tracemalloc

import numpy as np
import torch

from hiwm.policies import load_policy, make_policy
from hiwm.session.engine import Session, SessionConfig
from hiwm.tasks import make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.pusht import PushTTask
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel, load_world_model


def _timeit(fn, repeat: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def default_models(policy_dir: str | None, wm_dir: str | None):
    if wm_dir:
        wm = load_world_model(wm_dir)
    else:
        wm = EnsembleWorldModel(EnsembleConfig()).eval()
        scenes = torch.tensor(np.stack([PushTTask.initial_scene(i) for i in range(256)]), dtype=torch.float32)
        hist = scenes[:, None].expand(-1, 2, -1)
        wm.set_normalization(wm.codec.inputs(hist, hist[..., :2], hist[:, -1, :2] + 5), torch.ones(256, 5))
    if policy_dir:
        policy = load_policy(policy_dir)
    else:
        policy = make_policy("diffusion", action_dim=2, feature_dims={STATE_KEY: 2, ENV_KEY: 16}, down_dims=(32, 64, 128))
        def box(n: int) -> dict:  # the workspace as uniform stats; speed does not depend on them
            lo, hi = np.zeros(n, np.float32), np.full(n, 512.0, np.float32)
            return {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / np.sqrt(12)}

        policy.set_stats({STATE_KEY: box(2), ENV_KEY: box(16), "action": box(2)})
    return policy.eval(), wm


def bench_world_model(wm) -> dict:
    """World-model steps/s at batch 1 and 256: ``wm_steps_per_s_b*`` is the full ``step`` (dynamics + the task's
    success judge on the predicted scene, what a session or WorldModelEnv pays per step);
    ``wm_model_only_steps_per_s_b*`` is ``step(..., judge=False)``, the dynamics alone. The two are timed
    alternately in chunks, so a background load hits both alike."""
    out = {}
    for b in (1, 256):
        scenes = np.stack([PushTTask.initial_scene(i) for i in range(b)])
        actions = scenes[:, 2:4] + 20
        chunk, rounds = (200, 10) if b == 1 else (5, 10)
        times = {True: 0.0, False: 0.0}
        states = {j: wm.initial_state(PushTTask.observe_lowdim(scenes)) for j in times}
        for r in range(rounds + 1):  # round 0 warms up
            for judge in times:
                state = states[judge]
                t = time.perf_counter()
                for _ in range(chunk):
                    state, _, _ = wm.step(state, actions, judge=judge)
                times[judge] += (time.perf_counter() - t) if r else 0.0
                states[judge] = state
        out[f"wm_steps_per_s_b{b}"] = rounds * chunk * b / times[True]
        out[f"wm_model_only_steps_per_s_b{b}"] = rounds * chunk * b / times[False]
    return out


def bench_policy(policy) -> dict:
    out = {}
    for b in (1, 100):
        obs = {STATE_KEY: torch.rand(b, policy.config.n_obs_steps, 2) * 512,
               ENV_KEY: torch.rand(b, policy.config.n_obs_steps, 16) * 512}
        gen = torch.Generator().manual_seed(0)
        xs = _timeit(lambda obs=obs, gen=gen: policy.predict_action_chunk(obs, generator=gen), repeat=30 if b == 1 else 10)
        out[f"chunk_ms_b{b}_median"] = 1000 * statistics.median(xs)
        out[f"chunk_ms_b{b}_p95"] = 1000 * _pct(xs, 95)
    return out


def bench_tree(policy, wm) -> dict:
    obs0 = PushTTask.observe(PushTTask.initial_scene(20000))
    s = Session.start(policy, wm, obs0, SessionConfig(max_steps=5000, end_on_success=False))
    s.resume()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        s.step()
    node_bytes = (tracemalloc.get_traced_memory()[0] - before) / 1000
    tracemalloc.stop()
    out = {"bytes_per_node": node_bytes}
    s.pause()
    line = s.tree.path(s.node.id)
    for depth in (10, 1000):
        node_id = line[depth].id
        xs = _timeit(lambda node_id=node_id: s.roll_back(node_id), repeat=200)
        out[f"rollback_us_depth{depth}"] = 1e6 * statistics.median(xs)

        def branch_and_step(node_id=node_id):
            s.roll_back(node_id)
            s.branch()
            s.take_over()
            s.act([256.0, 256.0])  # one imagined step from the cached state: no re-simulation
            s.pause()

        xs = _timeit(branch_and_step, repeat=100)
        out[f"branch_step_us_depth{depth}"] = 1e6 * statistics.median(xs)
    return out


def bench_sim() -> dict:
    env = make_task("pusht", images=False)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = np.clip(env.scene()[2:4] + rng.normal(0, 40, (1000, 2)), 0, 512)
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    out = {"sim_steps_per_s": len(actions) / (time.perf_counter() - t)}
    env = make_task("pusht", images=True)
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions[:300]:
        env.step(a)
    out["sim_steps_per_s_with_96px_images"] = 300 / (time.perf_counter() - t)
    return out


TARGETS = {"wm_steps_per_s_b1": ">= 2000"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", default=None)
    p.add_argument("--world-model", default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    policy, wm = default_models(a.policy, a.world_model)
    results = {**bench_world_model(wm), **bench_policy(policy), **bench_tree(policy, wm), **bench_sim()}
    results["machine"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    print("| measurement | value | target |\n| --- | --- | --- |")
    for k, v in results.items():
        print(f"| {k} | {v:,.1f} | {TARGETS.get(k, '')} |" if isinstance(v, float) else f"| {k} | {v} | |")
    print("\nwm_steps_per_s_b*: world-model step + the success judge on the predicted scene (what a session pays);"
          "\nwm_model_only_steps_per_s_b*: the same step with judge=False (the dynamics alone).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
