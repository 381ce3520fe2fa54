"""Pixel world-model speed: one step at batch 1 (decoded frame and perception head included), batch 100, bytes
per cached tree node, 100 episodes of 300 steps, and the training steps' speed per stage.

    python benchmarks/pixel.py [--world-model runs/.../world_model] [--threads 2] [--json out.json]

Without a checkpoint it builds the default-sized (untrained) model: speed does not depend on the weights.
Run it on a quiet machine: torch threads on busy cores are far slower than one thread on free ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from hiwm.world_models import PixelConfig, PixelWorldModel, load_world_model
from hiwm.world_models.pixel.fit import AutoencoderStage, DecoderStage, DynamicsStage, PerceptionStage
from run import _timeit  # benchmarks/run.py, beside this script


def stepping(wm, batch: int, repeat: int) -> float:
    """Median seconds of one judged step of ``batch`` states."""
    obs = wm.observation_for_seed(100_000)
    state = wm.initial_state({k: np.repeat(np.asarray(v)[None], batch, 0) for k, v in obs.items()})
    action = np.repeat(np.asarray(obs["observation.state"])[None, :wm.task.spec_.action_dim], batch, 0) + 5.0
    return statistics.median(_timeit(lambda: wm.step(state, action), repeat))


def episodes_100(wm, steps: int) -> float:
    """Seconds for 100 episodes of ``steps`` steps, batched (what evaluating one policy's model success costs,
    less the policy)."""
    obs = wm.observation_for_seed(100_000)
    state = wm.initial_state({k: np.repeat(np.asarray(v)[None], 100, 0) for k, v in obs.items()})
    action = np.repeat(np.asarray(obs["observation.state"])[None, :wm.task.spec_.action_dim], 100, 0)
    t = time.perf_counter()
    for _ in range(steps):
        state, _, _ = wm.step(state, action)
    return time.perf_counter() - t


def node_bytes(wm) -> int:
    """Bytes of the world-model state a session's tree caches per node (its largest part)."""
    return wm.initial_state(wm.observation_for_seed(100_000)).nbytes()


def training_speed(wm, batch: int, repeat: int) -> dict:
    """Optimizer-free forward + backward seconds per training step of each stage on random frames."""
    h, k = wm.config.n_hist, wm.config.rollout_steps
    S, D, A, E = wm.config.image_size, wm.task.spec_.agent_dim, wm.task.spec_.action_dim, wm.task.spec_.env_dim
    g = torch.Generator().manual_seed(0)
    window = lambda n: {"frames": torch.randint(0, 255, (n, h + k, S, S, 3), dtype=torch.uint8, generator=g),  # noqa: E731
                        "agents": torch.rand(n, h + k, D, generator=g) * 512,
                        "actions": torch.rand(n, h + k, A, generator=g) * 512}
    single = lambda n: {"frames": torch.randint(0, 255, (n, 1, S, S, 3), dtype=torch.uint8, generator=g)}  # noqa: E731
    labeled = lambda n: {"frames": torch.randint(0, 255, (n, S, S, 3), dtype=torch.uint8, generator=g),  # noqa: E731
                         "env": torch.rand(n, E, generator=g), "recon": torch.rand(n, 3, S, S, generator=g)}
    bg = torch.ones(3, S, S)
    out = {}
    for name, cls, parts, sample, b in (("autoencoder", AutoencoderStage, [wm.encoder, wm.decoder], single, batch),
                                        ("dynamics", DynamicsStage, [wm.dynamics, wm.agent_net], window, batch // 4),
                                        ("decoder", DecoderStage, [wm.decoder], window, batch // 8),
                                        ("perception", PerceptionStage, [wm.perception], labeled, batch)):
        stage = cls(wm, parts, bg).train()
        batch_data = sample(b)

        def one(stage=stage, batch_data=batch_data):
            loss, _ = stage(batch_data)
            loss.backward()
        out[f"{name}_s_per_step"] = statistics.median(_timeit(one, repeat, warmup=1))
    wm.eval()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world-model", default=None)
    p.add_argument("--task", default="pusht")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="training batch (the recipe's world_model_training)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    wm = load_world_model(a.world_model) if a.world_model else PixelWorldModel(PixelConfig(task=a.task)).eval()
    b1 = stepping(wm, 1, 200)
    out = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {a.threads} threads",
        "step_ms_batch1": 1000 * b1, "frames_per_s_batch1": 1 / b1,
        "step_ms_batch100": 1000 * stepping(wm, 100, 20),
        "episodes_100x300_s": episodes_100(wm, 300),
        "bytes_per_node": node_bytes(wm),
        **training_speed(wm, a.batch, 5),
    }
    for k, v in out.items():
        print(f"{k:28s} {v:.3f}" if isinstance(v, float) else f"{k:28s} {v}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
