"""Policy speed on this machine: train it/s at batch 256 and predict_action_chunk latency.

    python benchmarks/policy_speed.py                       # default Diffusion config
    python benchmarks/policy_speed.py --down-dims 32,64 --threads 1

Shapes follow Push-T: 18-D observation (2 agent + 16 keypoint), 2-D actions, horizon 16.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from hiwm.policies import make_policy
from hiwm.training import TrainConfig, train

DIMS = {"observation.state": 2, "observation.environment_state": 16}


def build(args):
    overrides = {"feature_dims": DIMS, "action_dim": 2, "num_inference_steps": args.inference_steps}
    if args.down_dims:
        overrides["down_dims"] = tuple(int(d) for d in args.down_dims.split(","))
    policy = make_policy("diffusion", **overrides)
    ones = {k: d for k, d in [*DIMS.items(), ("action", 2)]}
    policy.set_stats({k: {"min": -np.ones(d), "max": np.ones(d), "mean": np.zeros(d), "std": np.ones(d)} for k, d in ones.items()})
    return policy


def random_batch(n: int, g: torch.Generator, cfg) -> dict[str, torch.Tensor]:
    batch = {k: torch.rand(n, cfg.n_obs_steps, d, generator=g) * 2 - 1 for k, d in DIMS.items()}
    batch["action"] = torch.rand(n, cfg.horizon, 2, generator=g) * 2 - 1
    batch["action_is_pad"] = torch.zeros(n, cfg.horizon, dtype=torch.bool)
    return batch


def latency_ms(policy, batch_size: int, repeats: int, budget_s: float = 15.0) -> tuple[float, float]:
    """Median and p95 over ``repeats`` calls, stopping early once ``budget_s`` is spent (needs >= 3)."""
    g = torch.Generator().manual_seed(0)
    batch = {k: v[:, :] for k, v in random_batch(batch_size, g, policy.config).items() if k.startswith("observation")}
    policy.predict_action_chunk(batch, g)  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeats):
        if len(times) >= 3 and time.perf_counter() - start > budget_s:
            break
        t = time.perf_counter()
        policy.predict_action_chunk(batch, g)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--down-dims", default="", help="comma-separated U-Net widths (default: the config's)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--inference-steps", type=int, default=10)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = build(args)
    cfg = policy.config
    n_params = sum(p.numel() for p in policy.parameters())
    print(f"diffusion down_dims={cfg.down_dims} kernel={cfg.kernel_size} params={n_params / 1e6:.2f}M "
          f"threads={torch.get_num_threads()} DDIM steps={cfg.num_inference_steps}")

    fixed = random_batch(args.batch_size, torch.Generator().manual_seed(0), cfg)
    warm = TrainConfig(steps=2, batch_size=args.batch_size, warmup_steps=1, log_every=1)
    train(policy, lambda n, g: fixed, warm, progress=False)  # allocator and kernel warm-up
    tc = TrainConfig(steps=args.train_steps, batch_size=args.batch_size, warmup_steps=1, log_every=args.train_steps)
    result = train(policy, lambda n, g: random_batch(n, g, cfg), tc, progress=False)
    its = result["it_per_s"]
    # On a shared machine, intra-op threads fighting other processes can be several times slower
    # than --threads 1; compare both before choosing.
    print(f"train: {its:.2f} it/s at batch {args.batch_size}  (3000 steps ~ {3000 / its / 60:.1f} min)")
    for batch_size, repeats in [(1, 30), (100, 10)]:
        median, p95 = latency_ms(policy, batch_size, repeats)
        print(f"predict_action_chunk batch {batch_size:>3}: median {median:.1f} ms, p95 {p95:.1f} ms")
    print(f"machine load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
