"""The `hiwm` command: thin sub-commands that parse options and call the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hiwm.errors import HiwmError

if TYPE_CHECKING:  # the pipeline imports torch: only load it for commands that need it
    from hiwm.pipeline import PipelineConfig

log = logging.getLogger("hiwm")


def _seed_range(text: str) -> list[int]:
    """'100000:100100' -> [100000, ..., 100099]; '5' -> [5]."""
    try:
        if ":" in text:
            a, b = text.split(":")
            out = list(range(int(a), int(b)))
        else:
            out = [int(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed range must look like 100000:100100, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError(f"seed range {text!r} is empty")
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def cmd_demo(a) -> int:
    from hiwm.evaluation.report import table, write_report
    from hiwm.pipeline import Pipeline
    from hiwm.training import dist_info

    if dist_info().enabled:
        raise HiwmError("hiwm demo runs in one process; use torchrun with train-policy, train-wm or post-train")

    cfg = demo_config(a)
    run_dir = Path(a.out or f"runs/{a.task}-{'quick' if a.quick else 'full'}-seed{a.seed}")
    t = time.perf_counter()
    results = Pipeline(cfg, run_dir, progress=not a.no_progress).run()
    report_dir = Path(a.report or run_dir / "report")
    command = "hiwm " + " ".join(a.argv)
    path = write_report(results, report_dir, command)
    print(table(results))
    print(f"\nreport: {path}  (run folder {run_dir}, {time.perf_counter() - t:.0f} s)")
    return 0


QUICK_WM_SIZES = {"chain": {"members": 2, "channels": 8, "conv_layers": 2}}


def demo_config(a) -> PipelineConfig:
    """The pipeline settings of ``hiwm demo``: the protocol's defaults (or --quick's), with the options given."""
    from hiwm.pipeline import PipelineConfig
    from hiwm.tasks import task_class

    if a.quick:
        cfg = PipelineConfig.quick(task=a.task, seed=a.seed, device=a.device)
    else:
        cfg = PipelineConfig(task=a.task, seed=a.seed, device=a.device)
        for field, value in task_class(a.task).spec_.extra.get("demo", {}).items():  # the task's own settings
            setattr(cfg, field, {**getattr(cfg, field), **value} if isinstance(value, dict) else value)
    if a.demos:
        cfg.demos = a.demos
    if a.policy_steps:
        cfg.policy_steps = a.policy_steps
    if a.finetune_steps:
        cfg.finetune_steps = a.finetune_steps
    if a.finetune_lr:
        cfg.finetune_lr = a.finetune_lr
    if a.wm_type:
        from hiwm.world_models import WORLD_MODELS
        WORLD_MODELS.get(a.wm_type)  # an unknown name fails here, not after the base policy has trained
    if a.wm_type and a.wm_type != cfg.wm["type"]:  # another model starts from its config defaults (--quick: tiny)
        cfg.wm = {"type": a.wm_type, **(QUICK_WM_SIZES.get(a.wm_type, {}) if a.quick else {})}
    if a.wm_steps:
        cfg.wm_steps = a.wm_steps
    if a.wm_policy_episodes is not None:
        cfg.wm_policy_episodes = a.wm_policy_episodes
    cfg.hg_dagger = a.hg_dagger
    if a.rounds:
        cfg.rounds = a.rounds
    given = {field: v for field, v in (("horizon", a.H), ("rollback", a.r), ("branches", a.K), ("budget", a.B),
                                        ("risk", _on_off(a.risk)), ("regress", a.regress),
                                        ("confirm", _on_off(a.confirm)), ("max_corrections", a.max_corrections))
             if v is not None}
    cfg.operator = {**cfg.operator, **given}
    if a.recoveries is not None:
        cfg.recoveries = a.recoveries == "on"
    cfg.policy = demo_policy(cfg.policy, a)
    return cfg


def demo_policy(pipeline_policy: dict, a) -> dict:
    """The demo's policy config: the pipeline's sizes for its own backbone (another backbone starts from its
    config defaults), with the ``--policy.*`` options given on top."""
    from hiwm.policies.options import given_policy_options

    kind = a.policy_type or pipeline_policy["type"]
    base = pipeline_policy if kind == pipeline_policy["type"] else {"type": kind}
    return {**base, **given_policy_options(a, kind)}


def cmd_collect(a) -> int:
    from hiwm.data.collect import collect

    policy = None
    if a.policy:
        from hiwm.policies import load_policy

        policy = load_policy(a.policy, device=a.device)
    images = a.images or bool(policy is not None and policy.config.uses_images)  # an image policy needs its frames
    ds = collect(a.task, a.mode, a.episodes, a.out, seed_start=a.seed, images=images, skill=a.skill,
                 progress=not a.no_progress, policy=policy, policy_share=a.policy_share)
    print(ds)
    return 0


def cmd_train_policy(a) -> int:
    from hiwm.data import EpisodeWindows, LeRobotDataset
    from hiwm.data.images import with_images
    from hiwm.policies import make_policy
    from hiwm.policies.frame import fit_frame_stats
    from hiwm.policies.options import policy_overrides
    from hiwm.tasks import task_class
    from hiwm.tasks.base import ENV_KEY, STATE_KEY
    from hiwm.training import TrainConfig, is_main_process, train

    datasets = [LeRobotDataset(d) for d in a.data]
    task = task_class(a.task)
    spec = task.spec_
    policy = make_policy(a.policy_type, seed=a.seed, action_dim=spec.action_dim, device=a.device,
                         feature_dims={STATE_KEY: spec.agent_dim, ENV_KEY: spec.env_dim}, **policy_overrides(a))
    policy.set_stats(datasets[0].stats)
    pc = policy.config
    sources = with_images(datasets, task) if pc.uses_images else datasets
    windows = EpisodeWindows(sources, pc.input_features, pc.n_obs_steps, pc.horizon)
    fit_frame_stats(policy, windows)
    summary = train(policy, windows.sample, TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                                                        device=a.device, log_every=a.log_every),
                    progress=not a.no_progress)
    if is_main_process():  # under torchrun every rank holds the same weights; one writes them
        _save_with_summary(policy, a.out, summary)
        print(f"saved {a.out} (final loss {summary['final_loss']:.4f}, {summary['it_per_s']:.1f} it/s, "
              f"{summary['world_size']} process{'es' if summary['world_size'] > 1 else ''})")
    return 0


def _save_with_summary(model, out: str, summary: dict) -> None:
    """The checkpoint, plus train.json (loss history, speed) beside it."""
    model.save(out)
    tmp = Path(out) / ".train.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(Path(out) / "train.json")


def cmd_train_wm(a) -> int:
    from hiwm.data import LeRobotDataset
    from hiwm.training import TrainConfig, is_main_process
    from hiwm.world_models import make_world_model_config
    from hiwm.world_models.training import fit_world_model, scene_episodes

    episodes = [ep for d in a.data for ep in scene_episodes(LeRobotDataset(d), a.task)]
    cfg = make_world_model_config(a.wm_type, task=a.task)
    model, summary = fit_world_model(cfg, episodes, TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=1e-3,
                                                                ema_decay=None, seed=a.seed, device=a.device),
                                     progress=not a.no_progress)
    if is_main_process():
        model.save(a.out)
        print(f"saved {a.out} (final loss {summary['final_loss']:.4f}, checkpoint {model.checkpoint_id()})")
    return 0


def cmd_eval(a) -> int:
    from hiwm.evaluation.metrics import wilson_interval
    from hiwm.evaluation.runner import rollout
    from hiwm.evaluation.video import episode_gif
    from hiwm.policies import load_policy
    from hiwm.tasks import task_class
    from hiwm.tasks.vector import SimVecEnv
    from hiwm.world_models import WorldModelVecEnv, load_world_model

    policy = load_policy(a.policy, device=a.device)
    task = task_class(a.task)
    if a.world_model:
        env = WorldModelVecEnv(load_world_model(a.world_model, device=a.device))
    else:
        env = SimVecEnv(a.task)
    res = rollout(env, policy, a.seeds, task.spec_.max_steps, seed=a.seed, record=a.videos > 0,
                  progress=not a.no_progress, desc=f"eval ({env.kind})")
    k = int(res.success.sum())
    lo, hi = wilson_interval(k, len(res.success))
    summary = {"env": env.kind, "episodes": len(res.success), "success": k / len(res.success), "ci95": [lo, hi],
               "success_95": float(res.success_95.mean()), "seeds": [a.seeds[0], a.seeds[-1]]}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, ep in enumerate(res.episodes[: a.videos]):
        episode_gif(task, ep["scene"], out / f"episode_{a.seeds[i]}.gif")
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"{env.kind}: success {100 * summary['success']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] over "
          f"{len(res.success)} episodes (coverage>=0.95: {100 * summary['success_95']:.1f}%) -> {out}")
    return 0


def _operator_options(parser) -> None:
    parser.add_argument("--max-corrections", type=_positive_int, default=None, metavar="N",
                        help="the scripted operator's corrections along one main line before it lets the line run "
                             "out (default: correct 3; demo the pipeline's 1, which spreads the budget over more initial "
                             "states, or the task's own choice)")
    parser.add_argument("--risk", choices=("on", "off"), default=None,
                        help="also take over when the prediction enters a failure-prone scene (Push-T: the T against "
                             "a wall); default: the task's choice")
    parser.add_argument("--regress", type=_non_negative, default=None, metavar="DROP",
                        help="also take over when the task's closeness (0..1) falls DROP below its best since the "
                             "watch began, the object pushed away from the goal (0: off); default: the task's choice")
    parser.add_argument("--confirm", choices=("on", "off"), default=None,
                        help="on a trigger, let the policy run on inside the model and correct only if the model's "
                             "judge calls that line a failure (no operator steps spent on lines that recover)")


def _recoveries_option(parser, default: str | None) -> None:
    parser.add_argument("--recoveries", choices=("on", "off"), default=default,
                        help="also train on a branch's imagined recovery after the hand-back when the model's judge "
                             "calls it a success (default off, the corrective steps alone: ~10 points better on Push-T's "
                             "validation seeds; the rope and towel demos keep it on, as their reports were made)")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def cmd_correct(a) -> int:
    from hiwm.policies import load_policy
    from hiwm.session.campaign import run_campaign
    from hiwm.session.operators import OperatorConfig
    from hiwm.world_models import load_world_model

    if a.operator != "scripted":
        raise HiwmError("only --operator scripted runs headless; a person corrects with `hiwm studio`")
    cfg = OperatorConfig(horizon=a.H, rollback=a.r, branches=a.K, budget=a.B, risk=_on_off(a.risk), regress=a.regress,
                         **({"confirm": a.confirm == "on"} if a.confirm else {}),
                         **({"max_corrections": a.max_corrections} if a.max_corrections else {}))
    cost = run_campaign(load_policy(a.policy, device=a.device), load_world_model(a.world_model, device=a.device),
                        a.seeds, a.out, cfg, seed=a.seed, progress=not a.no_progress)
    print({k: v for k, v in cost.items() if k != "events"})
    return 0


def cmd_post_train(a) -> int:
    from hiwm.data import EpisodeWindows, LeRobotDataset, WindowMixture
    from hiwm.data.images import with_images
    from hiwm.policies import load_policy
    from hiwm.session.export import correction_episodes
    from hiwm.tasks import task_class
    from hiwm.training import TrainConfig, is_main_process, train

    policy = load_policy(a.policy, device=a.device)
    pc = policy.config
    demos = [LeRobotDataset(d) for d in a.demos]
    corrections = correction_episodes(a.corrections, outcomes=a.recoveries == "on")
    if pc.uses_images:  # corrections hold the world model's low-dim predictions: render what a camera would see
        task = task_class(a.task)
        demos, corrections = with_images(demos, task), with_images(corrections, task)
    base = EpisodeWindows(demos, pc.input_features, pc.n_obs_steps, pc.horizon)
    new = EpisodeWindows(corrections, pc.input_features, pc.n_obs_steps, pc.horizon, mask_key="train_mask")
    sampler = WindowMixture([base, new], [1 - a.new_data_weight, a.new_data_weight])
    summary = train(policy, sampler.sample, TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                                                        device=a.device), progress=not a.no_progress)
    if is_main_process():
        _save_with_summary(policy, a.out, summary)
        print(f"saved {a.out} ({len(new)} corrective windows, final loss {summary['final_loss']:.4f})")
    return 0


def cmd_sweep_demos(a) -> int:
    from hiwm.evaluation.sweep import demo_sweep
    from hiwm.pipeline import PipelineConfig

    cfg = PipelineConfig(task=a.task, seed=a.seed, device=a.device, play_episodes=0)
    if a.policy_steps:
        cfg.policy_steps = a.policy_steps
    out = demo_sweep(cfg, a.counts, a.out, episodes=a.episodes, progress=not a.no_progress)
    for n, r in out["counts"].items():
        print(f"{n:4d} demos: {100 * r['sim_success']:.0f}% [{100 * r['sim_ci95'][0]:.0f}, {100 * r['sim_ci95'][1]:.0f}]")
    print(f"chosen: {out['chosen']} demos (band {out['band']})")
    return 0


def cmd_studio(a) -> int:
    from hiwm.studio.core import Studio, StudioConfig, check_session_dir
    from hiwm.studio.models import load_models
    from hiwm.studio.server import check_bind, check_port, serve

    token = check_bind(a.host, a.allow_remote, a.token)
    session_dir = Path(a.session or f"runs/studio/{a.task}")
    check_session_dir(session_dir)  # the cheap checks first: loading the models takes a while
    check_port(a.host, a.port)
    models = load_models(a.task, a.policy, a.world_model, device=a.device)
    cfg = StudioConfig(task=a.task, session_dir=session_dir, initial_seed=a.initial_seed, seed=a.seed, rate_hz=a.rate)
    serve(Studio(models, cfg), host=a.host, port=a.port, token=token)
    return 0


def _studio_rate(text: str) -> float:
    from hiwm.studio.protocol import RATE_HZ

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of steps per second, got {text!r}") from None
    if not RATE_HZ[0] <= value <= RATE_HZ[1]:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be in [{RATE_HZ[0]:g}, {RATE_HZ[1]:g}] Hz, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 1-65535, got {text}")
    return value


def _positive_int(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _step_options(p: argparse.ArgumentParser, finetune: bool) -> None:
    """Optimizer-step counts of the pipeline's trainings (defaults: PipelineConfig's)."""
    from hiwm.pipeline import PipelineConfig

    p.add_argument("--policy-steps", type=_positive_int, default=None,
                   help=f"base policy training steps (default {PipelineConfig.policy_steps})")
    if finetune:
        p.add_argument("--finetune-steps", type=_positive_int, default=None,
                       help=f"fine-tuning steps, the same for every post-trained variant (default {PipelineConfig.finetune_steps})")
        p.add_argument("--finetune-lr", type=_positive, default=None,
                       help=f"fine-tuning learning rate, the same for every variant (default {PipelineConfig.finetune_lr})")


def build_parser() -> argparse.ArgumentParser:
    from hiwm.policies.options import add_policy_options  # the options come from the policy registry

    p = argparse.ArgumentParser(prog="hiwm", description="Human-in-the-world-model robot post-training.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the whole loop on one task: collect, train, correct, post-train, evaluate")
    d.add_argument("--task", default="pusht")
    d.add_argument("--quick", action="store_true", help="tiny sizes, a few minutes (CI smoke test)")
    d.add_argument("--demos", type=int, default=None, help="number of expert demonstrations")
    d.add_argument("--out", default=None, help="run folder (default runs/<task>-<full|quick>-seed<seed>)")
    d.add_argument("--report", default=None, help="report folder (default <run folder>/report)")
    _step_options(d, finetune=True)
    d.add_argument("--wm.type", dest="wm_type", default=None,
                   help="world model: ensemble (the MLP ensemble, default) or chain (per-node, for the rope)")
    d.add_argument("--wm-steps", type=_positive_int, default=None, help="world-model training steps (default 2000)")
    d.add_argument("--wm-policy-episodes", type=_non_negative_int, default=None, metavar="N",
                   help="policy play episodes (the base in the simulator with play stretches) added to the world "
                        "model's data (0: none; default PipelineConfig's)")
    d.add_argument("--hg-dagger", action="store_true",
                   help="also run the Real HG-DAgger reference: the same operator and budget acting in the simulator")
    for flag, what in (("--H", "corrective steps per branch (default 15)"), ("--r", "rollback steps (default 5)"),
                       ("--K", "branches per failure state (default 1, --quick 2; the protocol's is 4)"),
                       ("--B", "budget in corrective steps (default 1500)")):
        d.add_argument(flag, type=int if flag == "--r" else _positive_int, default=None,
                       help=f"the scripted operator's {what}; a report states a change")
    _operator_options(d)
    _recoveries_option(d, None)
    d.add_argument("--rounds", type=_positive_int, default=None,
                   help="DAgger-style rounds for Hi-WM, WM-CL and HG-DAgger alike: each method's budget is split "
                        "over them and each round watches the policy fine-tuned on the rounds before (default 1)")
    _common(d)
    add_policy_options(d, default_type=None, show_defaults=False)
    d.set_defaults(fn=cmd_demo)

    c = sub.add_parser("collect", help="record simulator episodes into a LeRobotDataset")
    c.add_argument("--task", default="pusht")
    c.add_argument("--mode", choices=["expert", "play", "policy"], default="expert",
                   help="expert demos; play (world-model data); policy: --policy's own states with play stretches")
    c.add_argument("--episodes", type=int, required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--images", action="store_true", help="also store 96x96 top-down images")
    c.add_argument("--skill", type=float, default=1.0)
    c.add_argument("--policy", help="policy checkpoint folder that acts in --mode policy")
    c.add_argument("--policy-share", type=float, default=0.7, help="--mode policy: share of stretches the policy acts")
    _common(c)
    c.set_defaults(fn=cmd_collect)

    t = sub.add_parser(
        "train-policy", help="train a policy on datasets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a policy backbone from scratch on LeRobot datasets.",
        epilog="examples:\n"
               "  hiwm train-policy --data D --out C                                  # diffusion, state\n"
               "  hiwm train-policy --data D --out C --policy.type flow --policy.n_layers 4\n"
               "  hiwm train-policy --data D --out C --policy.input_features state image --policy.image_size 64\n"
               "  torchrun --standalone --nproc_per_node 2 -m hiwm.cli train-policy --data D --out C\n"
               "datasets without stored images get observation.image rendered from their low-dim state;\n"
               "under torchrun --batch-size is the global batch, split over the processes.")
    t.add_argument("--task", default="pusht")
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch-size", type=int, default=128, help="global batch (default 128)")
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--log-every", type=int, default=100, help="loss logging interval in steps (train.json)")
    _common(t)
    add_policy_options(t)
    t.set_defaults(fn=cmd_train_policy)

    w = sub.add_parser("train-wm", help="train a world model on datasets")
    w.add_argument("--task", default="pusht")
    w.add_argument("--data", nargs="+", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--wm.type", dest="wm_type", default="ensemble")
    w.add_argument("--steps", type=int, default=1500)
    w.add_argument("--batch-size", type=int, default=128)
    _common(w)
    w.set_defaults(fn=cmd_train_wm)

    e = sub.add_parser("eval", help="evaluate a policy in the simulator (or in a world model)")
    e.add_argument("--task", default="pusht")
    e.add_argument("--policy", required=True)
    e.add_argument("--world-model", default=None, help="evaluate inside this world model instead of the simulator")
    e.add_argument("--seeds", type=_seed_range, default=_seed_range("100000:100100"))
    e.add_argument("--videos", type=int, default=3, help="GIFs of the first N episodes")
    e.add_argument("--out", default="outputs/eval")
    _common(e)
    e.set_defaults(fn=cmd_eval)

    k = sub.add_parser("correct", help="run Hi-WM correction sessions inside the world model")
    k.add_argument("--operator", default="scripted")
    k.add_argument("--policy", required=True)
    k.add_argument("--world-model", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--seeds", type=_seed_range, default=_seed_range("20000:21000"))
    k.add_argument("--H", type=int, default=15, help="corrective steps per branch")
    k.add_argument("--r", type=int, default=5, help="rollback steps")
    k.add_argument("--K", type=int, default=4, help="branches per failure state")
    k.add_argument("--B", type=int, default=1500, help="operator budget in corrective steps")
    _operator_options(k)
    _common(k)
    k.set_defaults(fn=cmd_correct)

    q = sub.add_parser("post-train", help="fine-tune a policy on base demos + corrections")
    q.add_argument("--task", default="pusht")
    q.add_argument("--policy", required=True)
    q.add_argument("--demos", nargs="+", required=True)
    q.add_argument("--corrections", nargs="+", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--steps", type=int, default=1500)
    q.add_argument("--batch-size", type=int, default=128)
    q.add_argument("--lr", type=float, default=1e-4)
    q.add_argument("--new-data-weight", type=float, default=0.5)
    _recoveries_option(q, "off")
    _common(q)
    q.set_defaults(fn=cmd_post_train)
    sw = sub.add_parser("sweep-demos", help="choose the number of base demos (Base in the 25-65%% band)")
    sw.add_argument("--task", default="pusht")
    sw.add_argument("--counts", type=int, nargs="+", default=[10, 20, 40])
    sw.add_argument("--episodes", type=int, default=100)
    sw.add_argument("--out", default="runs/sweep")
    _step_options(sw, finetune=False)
    _common(sw)
    sw.set_defaults(fn=cmd_sweep_demos)

    st = sub.add_parser("studio", help="correct the policy inside the world model in the browser")
    st.add_argument("--task", default="pusht")
    st.add_argument("--policy", default=None, help="policy checkpoint (default: the base policy `hiwm demo` trains, "
                    "else an untrained built-in stand-in)")
    st.add_argument("--world-model", default=None, help="world-model checkpoint (default: the one `hiwm demo` trains, "
                    "else an untrained built-in stand-in)")
    st.add_argument("--session", default=None, help="session folder: log, corrections dataset (default "
                    "runs/studio/<task>); an existing one is resumed")
    st.add_argument("--initial-seed", type=int, default=20000, help="initial state of a new session")
    st.add_argument("--rate", type=_studio_rate, default=15.0, metavar="HZ",
                    help="policy steps per second while it acts, 1-30 (the page's slider; default 15)")
    st.add_argument("--host", default="127.0.0.1")
    st.add_argument("--port", type=_port, default=8765, help="TCP port, 1-65535 (default 8765)")
    st.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (a token is then required)")
    st.add_argument("--token", default=None, help="token the page must present (made up when --allow-remote and none given)")
    _common(st)
    st.set_defaults(fn=cmd_studio)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except HiwmError as e:
        print(f"hiwm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hiwm: interrupted; finished stages are kept, rerun to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
