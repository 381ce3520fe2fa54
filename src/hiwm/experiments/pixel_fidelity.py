"""How faithful the pixel world model is, on held-out episodes with their actions replayed open loop.

Trains the pixel model on a run's data (a finished ``hiwm run`` folder: its demos, play and policy play), or on
data it collects itself with the task's preset, then measures:
- frames: PSNR and SSIM of predicted against real frames at horizons 1, 10, 30, 100, next to copy-the-last-frame;
- the object: the perception head's reading of predicted frames against the true object state at the same
  horizons (Push-T: the T's position error in px), next to nothing-moves and, with a run folder, the run's state
  world model (its ``wm_accuracy.json``);
- the perception head on real held-out frames, trained on 500, 2 000 and all labeled frames;
- a strip of real against predicted frames.

    python -m hiwm.experiments.pixel_fidelity --run runs/pusht-full-seed0 --out runs/pixel-pusht \\
        --report reports/pixel-world-model/pusht
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hiwm.data import LeRobotDataset
from hiwm.evaluation.frames import HORIZONS, frame_fidelity
from hiwm.evaluation.wm_accuracy import expert_in_model, heldout_episodes, open_loop_errors
from hiwm.recipe import RunConfig, as_dict, resolve, split_overrides
from hiwm.stages import SEED_OFFSET, SEEDS, collect_episodes, episode_steps, train_world_model
from hiwm.training import TrainConfig
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.world_models import load_world_model
from hiwm.world_models.pixel.fit import frame_data, retrain_perception

log = logging.getLogger(__name__)
DATA = ("demos", "play", "policy_play")


def run_config(run: Path | None, task: str, settings: list[str], quick: bool = False) -> RunConfig:
    """The run's own config (or the task's preset) with the pixel world model and any --section.name settings."""
    over = split_overrides(["--world_model.type", "pixel", *settings])
    if run:
        return resolve(config=json.loads((run / "config.json").read_text()), overrides=over, quick=quick)
    return resolve(task=task, overrides=over, quick=quick)


def datasets(cfg: RunConfig, run: Path | None, out: Path, progress: bool) -> list[LeRobotDataset]:
    if run:
        return [LeRobotDataset(run / "data" / k) for k in DATA if (run / "data" / k / "meta" / "info.json").exists()]
    return [collect_episodes(cfg, kind, out / "data" / folder, progress=progress) if not
            (out / "data" / folder / "meta" / "info.json").exists() else LeRobotDataset(out / "data" / folder)
            for kind, folder in (("expert", "demos"), ("play", "play"))]


def perception_errors(wm, load, episodes: list, labels: list[int], data, cfg: RunConfig, progress: bool) -> dict:
    """The head's error on real held-out frames, as trained (``perception_labels``) and retrained on each count."""
    scenes = np.concatenate([s for s, _ in episodes])
    frames = torch.as_tensor(np.stack([wm.task.render_scene(s, wm.config.image_size) for s in scenes]))
    agents = wm.task.observe_lowdim(scenes)[STATE_KEY]

    def error(model) -> dict:
        with torch.no_grad():
            env = torch.cat([model.read(f.permute(0, 3, 1, 2).float() / 255.0) for f in frames.split(256)])
        seen = model.task.scene_of({STATE_KEY: agents, ENV_KEY: env.double().numpy()})
        return {k: float(np.median(v)) for k, v in model.codec.errors(seen, scenes).items()} | {"frames": len(scenes)}

    out = {"as_trained": {"labels": wm.config.perception_labels, **error(wm)}}
    tc = TrainConfig(steps=max(200, int(cfg.world_model_training.steps * wm.config.stages[3] / sum(wm.config.stages))),
                     batch_size=cfg.world_model_training.batch_size, lr=cfg.world_model_training.lr,
                     seed=cfg.seed + SEED_OFFSET["world_model"], warmup_steps=50, device=cfg.device)
    for n in labels:
        model = load()  # a fresh copy of the trained model, its head retrained
        n = n or len(data.frames)
        summary = retrain_perception(model, data, n, tc, progress=progress)
        out[str(n)] = {"labels": n, "final_loss": summary["final_loss"], **error(model)}
    return out


def write_report(results: dict, strip: tuple[np.ndarray, np.ndarray], report: Path, command: str) -> None:
    from PIL import Image

    report.mkdir(parents=True, exist_ok=True)
    (report / "results.json").write_text(json.dumps(results, indent=2))
    real, pred = strip
    every = max(1, len(real) // 10)
    row = lambda frames: np.concatenate(list(frames[::every]), axis=1)  # noqa: E731
    Image.fromarray(np.concatenate([row(real), row(pred)], axis=0)).save(report / "strip.png")
    acc, fid, state = results["object"], results["frames"], results.get("state_world_model", {})
    measure = next(k[:-7] for k in acc[str(HORIZONS[0])]["model"] if k.endswith("_median"))
    lines = [f"# Pixel world model: fidelity on {results['task']}", "",
             f"Command: `{command}`", "", f"Machine: {results['machine']}. Wall time: {results['wall_s'] / 60:.1f} min "
             f"(training {results['train_s'] / 60:.1f} min).", "",
             f"Config: `{json.dumps(results['world_model'])}`; trained {results['train_steps']} steps on "
             f"{results['frames_trained']} frames.", "",
             "## Frames (predicted against real, open loop)", "",
             "| horizon | PSNR model | PSNR copy-last | SSIM model | SSIM copy-last | starts |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for H in HORIZONS:
        f = fid.get(str(H)) or fid.get(H)
        if f:
            lines.append(f"| {H} | {f['model']['psnr_median']:.1f} | {f['copy_last']['psnr_median']:.1f} | "
                         f"{f['model']['ssim_median']:.3f} | {f['copy_last']['ssim_median']:.3f} | {f['n']} |")
    lines += ["", f"## The object, read off predicted frames by the perception head ({measure}, median)", "",
              "| horizon | pixel model | state world model | nothing moves |", "| ---: | ---: | ---: | ---: |"]
    for H in HORIZONS:
        a = acc.get(str(H))
        if a:
            s = state.get(str(H), {}).get("model", {}).get(f"{measure}_median")
            lines.append(f"| {H} | {a['model'][f'{measure}_median']:.1f} | {'' if s is None else f'{s:.1f}'} | "
                         f"{a['nothing_moves'][f'{measure}_median']:.1f} |")
    closed = results.get("expert_in_model")
    if closed:
        st = state.get("expert_in_model")
        lines += ["", f"The scripted expert acting on the model's frames alone (the perception head's reading), from "
                  f"{closed['episodes']} held-out initial states: the judge calls success in "
                  f"{100 * closed['success']:.0f}% (mean {closed['steps_mean']:.0f} steps)"
                  + (f"; in the state world model, {100 * st['success']:.0f}%." if st else ".")]
    lines += ["", "## The perception head on real held-out frames", "", "| labeled frames | " +
              " | ".join(k for k in results["perception"]["as_trained"] if k not in ("labels", "frames")) + " |",
              "| ---: |" + " ---: |" * (len(results["perception"]["as_trained"]) - 2)]
    for r in results["perception"].values():
        lines.append(f"| {r['labels']} | " + " | ".join(f"{v:.2f}" for k, v in r.items()
                                                     if k not in ("labels", "frames", "final_loss")) + " |")
    lines += ["", "`strip.png`: real frames (top) and the model's (bottom) of a held-out episode from its first "
              f"frame, every {every} steps, actions replayed open loop.", ""]
    (report / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hiwm.experiments.pixel_fidelity", description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=None, help="a finished `hiwm run` folder whose data to train on")
    p.add_argument("--task", default="pusht", help="without --run: collect this task's data with its preset")
    p.add_argument("--out", type=Path, required=True, help="where the model (and collected data) are cached")
    p.add_argument("--report", type=Path, default=None)
    p.add_argument("--episodes", type=int, default=20, help="held-out episodes (seeds 100 000+)")
    p.add_argument("--labels", type=int, nargs="*", default=[500, 2000, 0], help="perception label counts (0: all)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (the test)")
    p.add_argument("--no-progress", action="store_true")
    a, rest = p.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    cfg = run_config(a.run, a.task, rest, a.quick)
    progress = not a.no_progress
    data_sets = datasets(cfg, a.run, a.out, progress)
    path = a.out / "world_model"
    if not (path / "model.safetensors").exists():
        t = time.perf_counter()
        model, summary = train_world_model(cfg, data_sets, progress=progress)
        model.save(path)
        (path / "train.json").write_text(json.dumps(summary | {"wall_s": time.perf_counter() - t}, indent=2))
    wm = load_world_model(path, device=cfg.device)
    train = json.loads((path / "train.json").read_text())
    episodes = heldout_episodes(cfg.task, a.episodes, episode_steps(cfg), SEEDS["eval"])
    flat = [e for eps in episodes.values() for e in eps]
    fid = frame_fidelity(wm, flat, seed=cfg.seed)
    strip = fid.pop("strip")
    data = frame_data(data_sets, cfg.task, wm.config.image_size, wm.config.n_hist, wm.config.rollout_steps)
    results = {
        "task": cfg.task, "world_model": as_dict(cfg.world_model), "train_steps": train["steps"],
        "frames_trained": train["frames"], "train_s": train.get("wall_s", train["seconds"]),
        "frames": {str(k): v for k, v in fid.items()},
        "object": {str(k): v for k, v in open_loop_errors(wm, episodes, horizons=HORIZONS, seed=cfg.seed).items()},
        "perception": perception_errors(wm, lambda: load_world_model(path, device=cfg.device), flat, a.labels, data,
                                        cfg, progress),
        "expert_in_model": expert_in_model(wm, list(range(SEEDS["eval"], SEEDS["eval"] + a.episodes)),
                                           episode_steps(cfg)),
        "config": as_dict(cfg),
    }
    if a.run and (a.run / "wm_accuracy.json").exists():
        results["state_world_model"] = json.loads((a.run / "wm_accuracy.json").read_text())
    results["wall_s"] = time.perf_counter() - t0
    results["machine"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, " \
                         f"Python {platform.python_version()}, torch {torch.__version__}, hiwm at {_commit()}"
    command = "python -m hiwm.experiments.pixel_fidelity " + " ".join(sys.argv[1:] if argv is None else argv)
    if a.report:
        write_report(results, strip, a.report, command)
    print(json.dumps({k: results[k] for k in ("frames", "perception")}, indent=1)[:3000])
    return 0


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
