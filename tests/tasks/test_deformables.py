"""Route Rope and Fold Towel specifics: snapshots with a grasp held, the gripper, the success geometry."""

import numpy as np
import pytest
from task_scenes import GATES, GRIPPER_UP, folded_towel, straight_rope

from hiwm.errors import HiwmError
from hiwm.tasks import make_expert, make_task
from hiwm.tasks.mujoco_gripper import GRIP_SPEED
from hiwm.tasks.rope import HEAD, RADIUS, RopeRouteTask, gates_of, nodes_of, route_status
from hiwm.tasks.towel import KP_INDEX, SIDE, TowelFoldTask, flat_vertices, fold_status

DEFORMABLES = ["rope-route", "towel-fold"]


def _run_until_held(env, expert, obs, limit=40):
    for _ in range(limit):
        obs = env.step(expert.act(obs))[0]
        if env.held() >= 0:
            return obs
    raise AssertionError("the expert never took hold")


@pytest.mark.parametrize("name", DEFORMABLES)
def test_snapshot_while_holding_replays_images_bit_for_bit(name):
    env = make_task(name, images=True)
    obs, _ = env.reset(seed=8)
    expert = make_expert(name, seed=8)
    obs = _run_until_held(env, expert, obs)
    snap, held = env.get_state(), env.held()
    actions, frames = [], []
    for _ in range(12):  # drag with the grasp on, then let go for the last steps
        a = expert.act(obs)
        actions.append(a if len(actions) < 9 else np.array([*a[:3], 0.0]))
        obs = env.step(actions[-1])[0]
        frames.append(obs)
    fresh = make_task(name, images=True)
    fresh.set_state(snap)
    assert fresh.held() == held >= 0
    for a, want in zip(actions, frames):
        got = fresh.step(a)[0]
        assert all(np.array_equal(got[k], want[k]) for k in want)
    assert fresh.held() == -1


@pytest.mark.parametrize("name", DEFORMABLES)
def test_grasp_takes_the_nearest_vertex_only_on_closing(name):
    env = make_task(name, images=False)
    env.reset(seed=2)

    def go(xyz, grasp, steps=4):  # 4 steps cover 12 cm
        for _ in range(steps):
            env.step([*xyz, grasp])

    v = env.vertices()[3]
    on = [v[0], v[1], 0.005]
    go(v + np.array([0.05, 0.0, 0.04]), 0.0)
    go(v + np.array([0.05, 0.0, 0.04]), 1.0, steps=1)  # closing on nothing
    assert env.held() == -1 and env.agent()[3] == 1.0
    go(on, 1.0)  # arrives closed: still empty
    assert env.held() == -1 and np.allclose(env.agent()[:3], on)
    go(on, 0.0, steps=1)
    go(on, 1.0, steps=1)  # opens and closes on it
    assert env.held() == 3
    go([v[0], v[1], 0.08], 1.0)
    assert env.vertices()[3, 2] > 0.06, "the held vertex is lifted with the gripper"
    go([v[0], v[1], 0.08], 0.0, steps=1)
    assert env.held() == -1


def _edge_lengths(name, v):
    if name == "rope-route":
        return np.linalg.norm(np.diff(v, axis=0), axis=1) / 0.02
    grid = v.reshape(9, 9, 3)
    return np.concatenate([np.linalg.norm(np.diff(grid, axis=a), axis=-1).ravel() for a in (0, 1)]) / 0.03


@pytest.mark.parametrize("name", DEFORMABLES)
def test_holding_and_slamming_between_the_box_corners_keeps_the_physics_sane(name):
    env = make_task(name, images=False)
    env.reset(seed=9)
    v = env.vertices()[0]
    for grasp in (0.0,) * 20 + (1.0,):  # 20 steps cover 60 cm
        env.step([v[0], v[1], 0.005, grasp])
    assert env.held() == 0
    low, high = np.asarray(env.spec_.action_low), np.asarray(env.spec_.action_high)
    rng = np.random.default_rng(3)
    for _ in range(40):
        a = np.where(rng.random(4) < 0.5, low, high)
        a[3] = 1.0
        env.step(a)
        verts = env.vertices()
        assert np.all(np.isfinite(verts)) and verts[:, 2].min() > -0.005 and np.abs(verts).max() < 1.0
        assert np.abs(_edge_lengths(name, verts) - 1.0).max() < 0.2, "edges stretch by less than 20%"
    assert env.held() == 0 and np.abs(env.d.qvel).max() < 5.0


@pytest.mark.parametrize("name", DEFORMABLES)
def test_gripper_moves_straight_at_its_speed_limit(name):
    env = make_task(name, images=False)
    env.reset(seed=4)
    start = env.agent()[:3]
    target = np.array([-0.2, 0.2, 0.15]) if start[0] > 0 else np.array([0.2, 0.2, 0.15])
    env.step([*target, 0.0])
    moved = env.agent()[:3] - start
    direction = (target - start) / np.linalg.norm(target - start)
    assert np.linalg.norm(moved) == pytest.approx(GRIP_SPEED / env.spec_.fps, rel=1e-9)
    assert np.allclose(moved / np.linalg.norm(moved), direction)


@pytest.mark.parametrize("name", DEFORMABLES)
def test_camera_and_drawing_show_the_object_in_the_same_place(name):
    env = make_task(name, images=False)
    env.reset(seed=6)
    try:
        cam = env.camera_image(96).astype(int)
    except HiwmError as e:
        pytest.skip(str(e))
    drawn = env.render_scene(env.scene(), 96).astype(int)

    def blue(img):  # rope and towel are blue in both; the table is not
        return (img[..., 2] > img[..., 0] + 40) & (img[..., 2] > img[..., 1])

    a, b = blue(cam), blue(drawn)
    assert a.sum() > 20 and b.sum() > 20
    assert (a & b).sum() / (a | b).sum() > 0.5


def test_rope_clips_count_in_order_and_below_the_posts():
    assert route_status(straight_rope())[0] == 2
    assert not RopeRouteTask.is_success(straight_rope(z=0.06)), "a rope held above the posts does not count"
    only_first = straight_rope()  # the last three nodes stop short of clip 2
    only_first[12 + 3 * 22:] = [0.1, 0.004, RADIUS, 0.12, 0.004, RADIUS, 0.13, 0.004, RADIUS]
    k, closeness = route_status(only_first)
    assert k == 1 and 0.5 <= RopeRouteTask.progress(only_first) < 1.0 and closeness > 0.8
    k, _ = route_status(straight_rope(reverse=True))  # through both, but clip 2 first from the tail
    assert k == 1 and not RopeRouteTask.is_success(straight_rope(reverse=True))
    assert RopeRouteTask.progress(straight_rope(z=0.06)) < 0.5


def test_rope_start_states_follow_the_rules():
    for seed in range(30):
        scene = RopeRouteTask.initial_scene(seed)
        nodes, gates = nodes_of(scene), gates_of(scene)
        route = gates[1].mean(0) - gates[0].mean(0)
        assert 0.12 <= np.linalg.norm(route) <= 0.18
        behind = (nodes[:, :2] - gates[0].mean(0)) @ (route / np.linalg.norm(route))
        assert behind.max() <= -0.04 + 1e-9
        assert np.linalg.norm(nodes[:, None, :2] - gates.reshape(1, 4, 2), axis=-1).min() >= 0.03
        assert np.abs(nodes[:, :2]).max() <= 0.23 and route_status(scene)[0] == 0
        assert np.allclose(np.linalg.norm(np.diff(nodes, axis=0), axis=1), 0.02)
    assert nodes[HEAD, 2] == RADIUS


def test_towel_fold_geometry():
    flat = np.concatenate([GRIPPER_UP, flat_vertices((0.03, -0.02), 0.4)[KP_INDEX].ravel()])
    gap, area = fold_status(flat)
    assert gap == pytest.approx(np.sqrt(2)) and area == pytest.approx(1.0)
    gap, area = fold_status(folded_towel())
    assert gap < 0.03 and area == pytest.approx(0.5)
    corner_only = flat.copy()  # K00 dragged onto K22, nothing else moved: corners meet, area too large
    corner_only[4:7] = corner_only[4 + 3 * 8: 4 + 3 * 9]
    gap, area = fold_status(corner_only)
    assert gap == 0.0 and area > 0.65 and not TowelFoldTask.is_success(corner_only)
    lifted = folded_towel(lift=0.15 * SIDE + 0.005)  # laid over, but held too high above the corner
    assert not TowelFoldTask.is_success(lifted)


def test_gates_shape_and_scene_layout():
    scene = straight_rope()
    assert np.array_equal(gates_of(scene).ravel(), GATES) and nodes_of(scene).shape == (25, 3)
    assert RopeRouteTask.spec_.scene_dim == scene.size == 4 + 8 + 75
    assert TowelFoldTask.spec_.scene_dim == folded_towel().size == 4 + 27
