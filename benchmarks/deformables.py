"""Speed of the MuJoCo deformable simulators: control steps per second and times real time.

    MUJOCO_GL=egl python benchmarks/deformables.py [--steps 600] [--json out.json]

For each of rope-route and towel-fold: state only; with 96x96 observation images (``render_scene``,
the cv2 drawing used in the simulator and the world model alike); and the MuJoCo top-down camera
(``camera_image``, 96x96, headless). Actions come from the task's expert on successive seeds, so the
measurement includes grasps, contacts and lifted cloth, and episodes restart when they end. The expert's
own time is excluded. Real time is 10 control steps per second (PROTOCOL.md), so x-real-time is
steps/s / 10; the protocol asks for at least 5x (50 steps/s) state only.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from hiwm.tasks import make_expert, make_task

TASKS = ("rope-route", "towel-fold")


def measure(task: str, steps: int, images: bool, camera: bool) -> float:
    """Simulator steps/s (expert time excluded)."""
    env = make_task(task, images=images)
    seed, busy = 0, 0.0
    obs, _ = env.reset(seed=seed)
    expert = make_expert(task, seed=seed)
    for _ in range(steps):
        action = expert.act(obs)
        t = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        if camera:
            env.camera_image(env.spec_.image_size)
        busy += time.perf_counter() - t
        if terminated or truncated:
            seed += 1
            obs, _ = env.reset(seed=seed)
            expert = make_expert(task, seed=seed)
    return steps / busy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=600, help="control steps per measurement")
    ap.add_argument("--no-camera", action="store_true", help="skip the MuJoCo camera (no OpenGL here)")
    ap.add_argument("--json", default=None, help="also write the results as JSON")
    args = ap.parse_args()
    modes = [("state only", False, False), ("96x96 images", True, False)]
    if not args.no_camera:
        modes.append(("state + MuJoCo camera 96x96", False, True))
    rows = []
    print(f"{'task':<12}{'mode':<30}{'steps/s':>10}{'x real time':>13}")
    for task in TASKS:
        for label, images, camera in modes:
            sps = measure(task, args.steps, images, camera)
            rows.append({"task": task, "mode": label, "steps_per_s": sps, "x_real_time": sps / 10})
            print(f"{task:<12}{label:<30}{sps:>10.0f}{sps / 10:>13.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.processor() or platform.machine(), "steps": args.steps, "results": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
