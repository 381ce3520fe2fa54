"""World-model open-loop accuracy on one task: the pipeline's own collect / train / accuracy stages, alone.

    python benchmarks/wm_accuracy.py --task rope-route --demos 40 --play 60 --wm-steps 800 \\
        --out runs/wm-rope-route --json reports/deformables/wm_rope-route.json

Stages are cached in ``--out`` as in ``hiwm run`` (delete ``<out>/world_model`` and
``<out>/wm_accuracy.json`` to retrain). Prints the accuracy tables (all held-out episodes, then expert
and play apart) and writes them with the sizes and timings to ``--json``. ``--frames PNG``: the first
held-out expert episode as people see it, simulator (top row) against the model rolled out open loop
from its first frame with the same actions (bottom row), every ``--frame-every`` steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from hiwm.evaluation.report import accuracy_table
from hiwm.pipeline import Pipeline, machine_description
from hiwm.recipe import resolve
from hiwm.stages import episode_steps


def frames_png(wm, task: str, max_steps: int, every: int, path: str, size: int = 160) -> None:
    """Simulator (top) and open-loop model (bottom) frames of held-out expert episode 100 000, drawn from
    the scenes by the task's ``render_scene``."""
    import numpy as np
    from PIL import Image

    from hiwm.evaluation.wm_accuracy import heldout_episodes

    scenes, actions = heldout_episodes(task, 1, max_steps, 100_000)["expert"][0]
    state = wm.initial_state(wm.task.observe_lowdim(scenes[:1]))
    pred = [scenes[0]]
    for a in actions[:-1]:
        state, _, info = wm.step(state, a[None])
        pred.append(info["scene"][0])
    ts = list(range(0, len(scenes), every))
    rows = [np.concatenate([wm.task.render_scene(seq[t], size) for t in ts], 1) for seq in (scenes, pred)]
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True)
    p.add_argument("--demos", type=int, default=40)
    p.add_argument("--play", type=int, default=60, help="play episodes (300 steps each)")
    p.add_argument("--wm-steps", type=int, default=800)
    p.add_argument("--wm-batch", type=int, default=128)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--accuracy-episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (stages are cached there)")
    p.add_argument("--json", default=None)
    p.add_argument("--frames", default=None, help="PNG: simulator vs open-loop model frames of a held-out expert episode")
    p.add_argument("--frame-every", type=int, default=5)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    given = {"data.expert_episodes": a.demos, "data.play_episodes": a.play, "world_model_training.steps": a.wm_steps,
             "world_model_training.batch_size": a.wm_batch, "evaluation.accuracy_episodes": a.accuracy_episodes,
             "world_model.type": "ensemble", "world_model.members": a.members, "world_model.hidden": a.hidden}
    cfg = resolve(task=a.task, seed=a.seed, overrides={k: [str(v)] for k, v in given.items()})
    t0 = time.perf_counter()
    pipe = Pipeline(cfg, a.out, progress=False)
    demos, play = pipe.collect_data()
    wm = pipe.world_model([demos, play])
    acc = pipe.wm_accuracy(wm)
    tables = {k: accuracy_table(acc, None if k == "all" else k) for k in ("all", "expert", "play")}
    for k, t in tables.items():
        print(f"\n{k} held-out episodes\n{t}")
    print("\nexpert acting in the model:", acc["expert_in_model"])
    if a.frames:
        frames_png(wm, a.task, episode_steps(cfg), a.frame_every, a.frames)
    if a.json:
        train = json.loads((Path(a.out) / "world_model" / "train.json").read_text())
        out = {"task": a.task, "config": {**vars(a), "wm": vars(cfg.world_model)}, "training_frames": {"demos": len(demos.column("action")),
               "play": len(play.column("action"))}, "wm_train": {k: train[k] for k in ("steps", "seconds", "final_loss", "it_per_s") if k in train}, "wall_s": time.perf_counter() - t0, "machine": machine_description(),
               "wm_accuracy": acc}
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
