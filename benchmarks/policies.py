"""Policy speed per backbone and observation kind: training it/s and action-chunk latency.

    python benchmarks/policies.py                              # every registered backbone x state/image/both
    python benchmarks/policies.py --backbones flow --kinds image --train-steps 50 --repeats 100 --threads 2

Each backbone is built at the size `hiwm train-policy` uses (its config defaults);
shapes follow Push-T: agent state 2, keypoints 16, 96 x 96 camera frames, 2-D actions, horizon 16.
Training runs the real loop (training/loop.py: AdamW, EMA, grad clipping) at the pipeline's batch size;
latency is one ``predict_action_chunk`` at batch 1 (what a single rollout or the studio pays per chunk).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time

import numpy as np
import torch

from hiwm.recipe import RunConfig
from hiwm.policies import POLICIES, make_policy
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.training import TrainConfig, train

DIMS = {STATE_KEY: 2, ENV_KEY: 16}
IMAGE = 96
KINDS = {"state": [STATE_KEY, ENV_KEY], "image": [IMAGE_KEY], "both": [STATE_KEY, IMAGE_KEY]}


def build(backbone: str, kind: str):
    policy = make_policy(backbone, action_dim=2, feature_dims=DIMS, input_features=KINDS[kind])
    box = {k: {"min": -np.ones(d), "max": np.ones(d), "mean": np.zeros(d), "std": np.ones(d)}
           for k, d in [*DIMS.items(), ("action", 2)]}
    policy.set_stats(box)
    return policy


def random_batch(n: int, g: torch.Generator, cfg) -> dict[str, torch.Tensor]:
    """Training windows: key -> (n, n_obs_steps, D), image (n, n_obs_steps, 96, 96, 3) uint8, action, padding."""
    t = cfg.n_obs_steps
    batch: dict[str, torch.Tensor] = {}
    for key in cfg.input_features:
        if key == IMAGE_KEY:
            batch[key] = torch.randint(0, 256, (n, t, IMAGE, IMAGE, 3), generator=g, dtype=torch.uint8)
        else:
            batch[key] = torch.rand(n, t, DIMS[key], generator=g) * 2 - 1
    batch["action"] = torch.rand(n, cfg.horizon, 2, generator=g) * 2 - 1
    batch["action_is_pad"] = torch.zeros(n, cfg.horizon, dtype=torch.bool)
    return batch


def train_speed(policy, batch_size: int, steps: int) -> float:
    """it/s over ``steps`` optimizer steps after a 2-step warm-up (allocator, kernels)."""
    cfg = policy.config
    g = torch.Generator().manual_seed(0)
    pool = [random_batch(batch_size, g, cfg) for _ in range(2)]  # sampling is not what is measured
    warm = TrainConfig(steps=2, batch_size=batch_size, warmup_steps=1, log_every=2)
    train(policy, lambda n, g: pool[0], warm, progress=False)
    tc = TrainConfig(steps=steps, batch_size=batch_size, warmup_steps=1, log_every=steps)
    batches = itertools.cycle(pool)
    return train(policy, lambda n, g: next(batches), tc, progress=False)["it_per_s"]


def latency_ms(policy, repeats: int, budget_s: float) -> tuple[float, float]:
    """Median and p95 of one predict_action_chunk at batch 1 (stops early past ``budget_s``, after >= 3 calls)."""
    g = torch.Generator().manual_seed(0)
    obs = {k: v for k, v in random_batch(1, g, policy.config).items() if k.startswith("observation")}
    policy.predict_action_chunk(obs, g)  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
        t = time.perf_counter()
        policy.predict_action_chunk(obs, g)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), float(np.percentile(times, 95))


def describe(policy) -> str:
    cfg = policy.config
    size = {k: getattr(cfg, k) for k in ("down_dims", "d_model", "n_layers", "num_inference_steps") if hasattr(cfg, k)}
    if cfg.uses_images:
        size |= {"encoder": f"{cfg.image_encoder}/{cfg.image_width}", "crop": f"{cfg.image_size}x{cfg.crop_fraction}"}
    return " ".join(f"{k}={v}" for k, v in size.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=POLICIES.names(), choices=POLICIES.names())
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--batch-size", type=int, default=RunConfig().policy_training.batch_size,
                        help="training batch (default: the pipeline's, %(default)s)")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=50, help="latency calls per row")
    parser.add_argument("--budget", type=float, default=20.0, help="max seconds of latency calls per row")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} batch={args.batch_size} train_steps={args.train_steps} "
          f"load={' '.join(f'{x:.1f}' for x in os.getloadavg())} cores={os.cpu_count()}")
    print("| backbone | observations | params | train it/s | chunk ms median | chunk ms p95 | size |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    rows = []
    for backbone in args.backbones:
        for kind in args.kinds:
            torch.manual_seed(0)
            policy = build(backbone, kind)
            params = sum(p.numel() for p in policy.parameters())
            its = train_speed(policy, args.batch_size, args.train_steps)
            median, p95 = latency_ms(policy.eval(), args.repeats, args.budget)
            row = {"backbone": backbone, "observations": kind, "params": params, "train_it_per_s": its,
                   "chunk_ms_median": median, "chunk_ms_p95": p95, "size": describe(policy)}
            rows.append(row)
            print(f"| {backbone} | {kind} | {params / 1e6:.2f}M | {its:.2f} | {median:.1f} | {p95:.1f} | {row['size']} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
