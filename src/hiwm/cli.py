"""The `hiwm` command: thin sub-commands that resolve the recipe (hiwm.recipe) and call a stage (hiwm.stages).

Every recipe command takes the same settings: the task's preset, then ``--quick``, ``--config FILE`` and any
setting as ``--SECTION.NAME VALUE`` (``hiwm config`` prints them all), so a stage command runs exactly what
``hiwm run`` runs for that stage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from hiwm.errors import HiwmError

log = logging.getLogger("hiwm")

SETTINGS_HELP = ("Every setting of the recipe is also an option, --SECTION.NAME VALUE (e.g. --operator.branches 4, "
                 "--finetune.lr 5e-4, --policy.type flow, --policy.input_features state image, "
                 "--world_model.type chain); `hiwm config` prints them all with their values, `hiwm presets` lists "
                 "the presets, docs/recipe.md explains them.")


def _recipe_options(p: argparse.ArgumentParser) -> None:
    """The options every recipe command shares (the rest of the recipe comes as dotted settings)."""
    p.add_argument("--task", default=None, help="pusht, rope-route or towel-fold (default pusht, or the --config's)")
    p.add_argument("--preset", default=None, help="a shipped preset (default: the task's own)")
    p.add_argument("--config", default=None, metavar="FILE", help="a whole or partial config as JSON (a run folder's "
                   "config.json reruns that run)")
    p.add_argument("--quick", action="store_true", help="tiny sizes over the preset: the whole loop in minutes (CI)")
    p.add_argument("--seed", type=int, default=None, help="the run's seed (default 0)")
    p.add_argument("--device", default=None, help="torch device: cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def config_from_args(a):
    """The RunConfig of a recipe command: its options and dotted settings over the preset."""
    from hiwm.recipe import resolve, split_overrides

    return resolve(task=a.task, quick=a.quick, config_file=a.config, preset=a.preset,
                   overrides=split_overrides(a.settings), seed=a.seed, device=a.device)


def cmd_run(a) -> int:
    from hiwm.evaluation.report import table, write_report
    from hiwm.pipeline import Pipeline
    from hiwm.training import dist_info

    if dist_info().enabled:
        raise HiwmError("hiwm run runs in one process; use torchrun with train-policy, train-wm or post-train")
    cfg = config_from_args(a)
    run_dir = Path(a.out or f"runs/{cfg.task}-{'quick' if a.quick else 'full'}-seed{cfg.seed}")
    t = time.perf_counter()
    results = Pipeline(cfg, run_dir, progress=not a.no_progress).run()
    path = write_report(results, Path(a.report or run_dir / "report"), "hiwm " + " ".join(a.argv))
    print(table(results))
    print(f"\nreport: {path}  (run folder {run_dir}, {time.perf_counter() - t:.0f} s)")
    return 0


def cmd_experiment(a) -> int:
    from hiwm.evaluation.grid import Cell, aggregate, finished, grid_cells, run_cell
    from hiwm.evaluation.grid_report import write_grid_report
    from hiwm.pipeline import machine_description
    from hiwm.recipe import split_overrides
    from hiwm.tasks import TASKS

    out = Path(a.out or ("runs/experiment-quick" if a.quick else "runs/experiment"))
    cells = grid_cells(a.tasks or TASKS.names(), a.backbones, a.seeds)
    todo = [Cell.parse(c) for c in a.cell] if a.cell else cells
    # the table's fourth method, and more points for judging each world model as an evaluator, by default
    settings = {"real_hg_dagger": ["on"], "evaluation.checkpoints": ["0.25", "0.5"],
                "evaluation.outsiders": ["noisy_expert", "late_expert"], **split_overrides(a.settings)}
    argv = [x for i, x in enumerate(a.argv) if x != "--cell" and (i == 0 or a.argv[i - 1] != "--cell")]
    command = "hiwm " + " ".join(argv)  # the grid's command: --cell picks which of its cells this call runs
    for i, cell in enumerate(todo, 1):
        print(f"cell {i}/{len(todo)}: {cell.name}", flush=True)
        run_cell(cell, out, a.quick, settings, a.device, progress=not a.no_progress, command=command)
    results = [r for r in finished(out) if Cell(r["task"], r["backbone"], r["seed"]) in set(cells) | set(todo)]
    done = {Cell(r["task"], r["backbone"], r["seed"]) for r in results}
    path = write_grid_report(aggregate(results), Path(a.report or (out / "report" if a.quick else "reports/experiment")),
                             command, machine_description(), [c.name for c in cells if c not in done])
    print(f"report: {path}")
    return 0


def cmd_tune(a) -> int:
    from hiwm.evaluation.tune import split_axes, tune, write_tune_report
    from hiwm.pipeline import machine_description
    from hiwm.recipe import split_overrides
    from hiwm.recipe.resolve import load_config_file

    tree = load_config_file(Path(a.run) / "config.json")
    axes, fixed = split_axes(tree, split_overrides(a.settings))
    out = Path(a.out or Path(a.run) / f"tune-{a.method}")
    t = time.perf_counter()
    result = tune(a.run, a.method, axes, fixed, out, a.episodes, progress=not a.no_progress)
    path = write_tune_report(result, Path(a.report or out / "report"), "hiwm " + " ".join(a.argv),
                             machine_description(), time.perf_counter() - t)
    for r in result["rows"]:
        print(f"{r['label']:40s} {100 * r['sim_success']:3.0f}%  (world model {100 * r['wm_success']:.0f}%)")
    print(f"best on validation: {result['best']}\nreport: {path}")
    return 0


def cmd_config(a) -> int:
    from hiwm.recipe import config_json

    text = config_json(config_from_args(a))
    if a.save:
        Path(a.save).write_text(text + "\n")
        print(f"saved {a.save}")
    else:
        print(text)
    return 0


def cmd_presets(a) -> int:
    from hiwm.recipe import preset_about, preset_names

    width = max(map(len, preset_names()))
    for name in preset_names():
        print(f"{name:{width}s}  {preset_about(name)}")
    return 0


def cmd_collect(a) -> int:
    from hiwm.policies import load_policy
    from hiwm.stages import collect_episodes

    cfg = config_from_args(a)
    policy = load_policy(a.policy, device=cfg.device) if a.policy else None
    print(collect_episodes(cfg, a.kind, a.out, policy=policy, progress=not a.no_progress))
    return 0


def _datasets(paths: list[str]) -> list:
    from hiwm.data import LeRobotDataset

    return [LeRobotDataset(d) for d in paths]


def cmd_train_policy(a) -> int:
    from hiwm.stages import train_base_policy
    from hiwm.training import is_main_process

    cfg = config_from_args(a)
    datasets = _datasets(a.data)
    policy, summary = train_base_policy(cfg, datasets, datasets[0].stats, progress=not a.no_progress)
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
    from hiwm.stages import train_world_model
    from hiwm.training import is_main_process

    cfg = config_from_args(a)
    model, summary = train_world_model(cfg, _datasets(a.data), progress=not a.no_progress)
    if is_main_process():
        _save_with_summary(model, a.out, summary)
        print(f"saved {a.out} (final loss {summary['final_loss']:.4f}, checkpoint {model.checkpoint_id()})")
    return 0


def cmd_eval(a) -> int:
    from hiwm.evaluation.metrics import wilson_interval
    from hiwm.evaluation.video import episode_gif
    from hiwm.policies import load_policy
    from hiwm.stages import evaluate_policy, evaluation_seeds
    from hiwm.tasks import task_class
    from hiwm.tasks.vector import SimVecEnv
    from hiwm.world_models import WorldModelVecEnv, load_world_model

    cfg = config_from_args(a)
    policy = load_policy(a.policy, device=cfg.device)
    env = WorldModelVecEnv(load_world_model(a.world_model, device=cfg.device)) if a.world_model else SimVecEnv(cfg.task)
    res = evaluate_policy(cfg, policy, env, record=a.videos > 0, progress=not a.no_progress, desc=f"eval ({env.kind})")
    seeds, k = evaluation_seeds(cfg), int(res.success.sum())
    lo, hi = wilson_interval(k, len(res.success))
    summary = {"env": env.kind, "episodes": len(res.success), "success": k / len(res.success), "ci95": [lo, hi],
               "terminal_success": float(res.terminal_success.mean()), "seeds": [seeds[0], seeds[-1]]}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, ep in enumerate(res.episodes[: a.videos]):
        episode_gif(task_class(cfg.task), ep["scene"], out / f"episode_{seeds[i]}.gif")
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"{env.kind}: success {100 * summary['success']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] over "
          f"{len(res.success)} episodes (terminal success: {100 * summary['terminal_success']:.1f}%) -> {out}")
    return 0


def cmd_correct(a) -> int:
    from hiwm.policies import load_policy
    from hiwm.stages import run_correction_campaign
    from hiwm.world_models import load_world_model

    cfg = config_from_args(a)
    cost = run_correction_campaign(cfg, load_policy(a.policy, device=cfg.device),
                                   load_world_model(a.world_model, device=cfg.device), a.out,
                                   progress=not a.no_progress)
    print({k: v for k, v in cost.items() if k != "events"})
    return 0


def cmd_post_train(a) -> int:
    from hiwm.policies import load_policy
    from hiwm.stages import correction_windows, finetune_policy
    from hiwm.training import is_main_process

    cfg = config_from_args(a)
    new = correction_windows(cfg, load_policy(a.policy, device=cfg.device), [Path(c) for c in a.corrections])
    if new is None:
        raise HiwmError(f"no corrective steps in {', '.join(a.corrections)}: nothing to post-train on")
    policy, summary = finetune_policy(cfg, a.policy, _datasets(a.demos), new, progress=not a.no_progress)
    if is_main_process():
        _save_with_summary(policy, a.out, summary)
        print(f"saved {a.out} ({len(new)} corrective windows, final loss {summary['final_loss']:.4f})")
    return 0


def cmd_sweep_demos(a) -> int:
    from dataclasses import replace

    from hiwm.evaluation.sweep import demo_sweep

    cfg = config_from_args(a)
    cfg = replace(cfg, data=replace(cfg.data, play_episodes=0))
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


def _recipe_parser(sub, name: str, help_text: str, fn, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text, epilog=SETTINGS_HELP, aliases=list(aliases),
                       allow_abbrev=False)
    _recipe_options(p)
    p.set_defaults(fn=fn, recipe=True)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hiwm", description="Human-in-the-world-model robot post-training.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    r = _recipe_parser(sub, "run", "the whole experiment on one task: collect, train the base policy and the world "
                       "model, correct inside the model, post-train, evaluate Base / WM-CL / Hi-WM", cmd_run,
                       aliases=("demo",))
    r.add_argument("--out", default=None, help="run folder (default runs/<task>-<full|quick>-seed<seed>); a rerun "
                   "skips finished stages")
    r.add_argument("--report", default=None, help="report folder (default <run folder>/report)")

    x = sub.add_parser("experiment", help="the paper's table: a whole run per task x backbone x run seed (one "
                       "resumable cell at a time), then one report over them", epilog=SETTINGS_HELP + " Settings "
                       "given here apply to every cell.", allow_abbrev=False)
    x.add_argument("--tasks", nargs="+", default=None, help="default: every task")
    x.add_argument("--backbones", nargs="+", default=["diffusion", "flow"])
    x.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="run seeds: one draw each (default 0 1)")
    x.add_argument("--cell", action="append", default=None, metavar="TASK/BACKBONE/SEED",
                   help="run only this cell (repeatable); the report still covers every finished cell")
    x.add_argument("--quick", action="store_true", help="tiny sizes in every cell (CI)")
    x.add_argument("--device", default=None, help="torch device: cpu or cuda (default cpu)")
    x.add_argument("--no-progress", action="store_true", help="hide progress bars")
    x.add_argument("--out", default=None, help="cells' run folders (default runs/experiment, or "
                   "runs/experiment-quick)")
    x.add_argument("--report", default=None, help="report folder (default reports/experiment, or <out>/report "
                   "with --quick)")
    x.set_defaults(fn=cmd_experiment, recipe=True)

    tu = sub.add_parser("tune", help="sweep one method's settings on the validation seeds, from a finished run's "
                        "base, data and world model", epilog="Settings are --SECTION.NAME VALUE [VALUE ...] for the "
                        "operator, finetune and wm_cl sections; a setting given several values is swept (every "
                        "combination), e.g. --wm_cl.rollouts 100 300 --finetune.lr 3e-4 5e-4.", allow_abbrev=False)
    tu.add_argument("--run", required=True, help="a finished run folder (hiwm run --out)")
    tu.add_argument("--method", required=True, choices=("wm_cl", "hiwm", "real_hg_dagger"))
    tu.add_argument("--episodes", type=_positive_int, default=100, help="validation episodes per setting")
    tu.add_argument("--out", default=None, help="folders of the settings (default <run>/tune-<method>)")
    tu.add_argument("--report", default=None, help="report folder (default <out>/report)")
    tu.add_argument("--no-progress", action="store_true", help="hide progress bars")
    tu.set_defaults(fn=cmd_tune, recipe=True)

    cf = _recipe_parser(sub, "config", "print the effective config of these options (or --save it as a file)",
                        cmd_config)
    cf.add_argument("--save", default=None, metavar="FILE", help="write it to FILE (for --config FILE)")
    pr = sub.add_parser("presets", help="list the shipped presets")
    pr.set_defaults(fn=cmd_presets)

    c = _recipe_parser(sub, "collect", "record the run's simulator episodes of one kind into a LeRobotDataset "
                       "(data.expert_episodes, data.play_episodes or data.policy_play_episodes of them)", cmd_collect)
    c.add_argument("--kind", choices=("expert", "play", "policy"), default="expert",
                   help="expert demonstrations; scripted play (world-model data); policy: --policy's own states with "
                        "play stretches")
    c.add_argument("--policy", help="the base policy checkpoint that acts with --kind policy")
    c.add_argument("--out", required=True)

    t = _recipe_parser(sub, "train-policy", "train the base policy (policy, policy_training) on datasets; under "
                       "torchrun --nproc_per_node N the batch is split over the processes", cmd_train_policy)
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--out", required=True)

    w = _recipe_parser(sub, "train-wm", "train the world model (world_model, world_model_training) on datasets",
                       cmd_train_wm)
    w.add_argument("--data", nargs="+", required=True)
    w.add_argument("--out", required=True)

    e = _recipe_parser(sub, "eval", "evaluate a policy in the simulator or in a world model (evaluation.episodes "
                       "from evaluation.first_seed; 9000 for the validation seeds)", cmd_eval)
    e.add_argument("--policy", required=True)
    e.add_argument("--world-model", default=None, help="evaluate inside this world model instead of the simulator")
    e.add_argument("--videos", type=int, default=3, help="GIFs of the first N episodes")
    e.add_argument("--out", default="outputs/eval")

    k = _recipe_parser(sub, "correct", "the scripted operator's Hi-WM corrections inside the world model (operator)",
                       cmd_correct)
    k.add_argument("--policy", required=True)
    k.add_argument("--world-model", required=True)
    k.add_argument("--out", required=True)

    q = _recipe_parser(sub, "post-train", "fine-tune a policy on its demonstrations + corrections (finetune)",
                       cmd_post_train)
    q.add_argument("--policy", required=True)
    q.add_argument("--demos", nargs="+", required=True)
    q.add_argument("--corrections", nargs="+", required=True, help="corrections datasets (a campaign's or the "
                   "studio's <session>/corrections)")
    q.add_argument("--out", required=True)

    sw = _recipe_parser(sub, "sweep-demos", "choose the number of base demos (Base in the 25-65%% band, validation "
                        "seeds)", cmd_sweep_demos)
    sw.add_argument("--counts", type=_positive_int, nargs="+", default=[10, 20, 40])
    sw.add_argument("--episodes", type=_positive_int, default=100)
    sw.add_argument("--out", default="runs/sweep")

    st = sub.add_parser("studio", help="correct the policy inside the world model in the browser")
    st.add_argument("--task", default="pusht")
    st.add_argument("--policy", default=None, help="policy checkpoint (default: the base policy `hiwm run` trains, "
                    "else an untrained built-in stand-in)")
    st.add_argument("--world-model", default=None, help="world-model checkpoint (default: the one `hiwm run` trains, "
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
    st.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    st.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    st.set_defaults(fn=cmd_studio)
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    """Options -> namespace; a recipe command's dotted settings are left in ``settings`` for hiwm.recipe."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "recipe", False):
        args.settings = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse(argv)
    except HiwmError as e:
        print(f"hiwm: error: {e}", file=sys.stderr)
        return 2
    args.argv = argv
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's notice that an optional module is absent
    try:
        if getattr(args, "recipe", False):
            from hiwm.recipe import split_overrides

            split_overrides(args.settings)  # a stray argument fails before any work
        return args.fn(args)
    except HiwmError as e:
        print(f"hiwm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hiwm: interrupted; finished stages are kept, rerun to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
