"""The Push-T expert as the Hi-WM watcher: ms per act() on observations from another actor (a noisy expert),
so its plan is dropped and remade nearly every step, as when it watches a policy: python benchmarks/expert_watch.py
"""
import time

import numpy as np

from hiwm.tasks import make_expert, task_class


def main(episodes: int = 4, steps: int = 100) -> None:
    env, rng, frames = task_class("pusht")(), np.random.default_rng(0), []
    for seed in range(9000, 9000 + episodes):
        obs = env.reset(seed=seed)
        obs = obs if isinstance(obs, dict) else obs[0]
        actor = make_expert("pusht", skill=0.5, seed=seed)
        for _ in range(steps):
            obs = env.step(np.clip(actor.act(obs) + rng.normal(0, 15, 2), 0, 512))[0]
            frames.append(obs)
    watcher = make_expert("pusht", skill=1.0, seed=0)
    start = time.perf_counter()
    for obs in frames:
        watcher.act(obs)
    print(f"| expert_watch_ms_per_step | {(time.perf_counter() - start) / len(frames) * 1e3:.2f} | ({len(frames)} steps) |")


if __name__ == "__main__":
    main()
