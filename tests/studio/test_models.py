"""Which models the studio opens for each task: stand-ins where a codec exists, a one-line error where none
does, any checkpoint given with --world-model, and refusals of models that do not fit the task."""

import numpy as np
import pytest
from gripper_helpers import GRIPPER_TASKS, with_raw_codec

from hiwm.cli import main
from hiwm.errors import HiwmError
from hiwm.policies import save_policy
from hiwm.studio.models import builtin_policy, builtin_world_model, load_models
from hiwm.tasks import STATE_KEY, task_class
from hiwm.tasks.controls import action_layout
from hiwm.world_models.ensemble.features import SCENE_CODECS


@pytest.mark.parametrize("task", sorted(set(SCENE_CODECS.names()) | set(GRIPPER_TASKS)))
def test_stand_in_world_model_follows_the_action_and_nothing_else_moves(task, monkeypatch):
    """Over every task's real codec, and the test codec for a gripper task that has none yet."""
    real_codecs = set(SCENE_CODECS.names())
    if task not in SCENE_CODECS:
        with_raw_codec(monkeypatch, task)
    cls = task_class(task)
    wm = builtin_world_model(task)
    scene = cls.initial_scene(20001)
    state = wm.initial_state({k: v[None] for k, v in cls.observe_lowdim(scene).items()})
    lo, hi = np.asarray(cls.spec_.action_low), np.asarray(cls.spec_.action_high)
    agent, action = cls.observe_lowdim(scene)[STATE_KEY], lo + 0.3 * (hi - lo)
    # a real gripper codec sets the closed flag from the grasp command itself (known mechanics, not learned)
    grasp = action_layout(cls.spec_).grasp if task in real_codecs else None
    follow = [i for i in range(len(action)) if i != grasp]
    spreads = []
    for _ in range(3):
        state, pred, info = wm.step(state, action[None])
        want = agent + 0.5 * (action - agent)
        np.testing.assert_allclose(pred[STATE_KEY][0][follow], want[follow], atol=1e-3 * np.max(hi - lo))
        if grasp is not None:
            assert pred[STATE_KEY][0][grasp] == float(action[grasp] >= 0.5)
            want[grasp] = pred[STATE_KEY][0][grasp]
        agent = want
        spreads.append(float(info["uncertainty"][0]))
    rest = cls.observe_lowdim(scene)["observation.environment_state"]
    np.testing.assert_allclose(pred["observation.environment_state"][0], rest, atol=1e-4 * np.max(hi - lo))
    assert spreads[0] > spreads[1] > spreads[2] > 0, "the members disagree in proportion to the jump"


@pytest.mark.parametrize("task", GRIPPER_TASKS)
def test_no_codec_means_a_one_line_error_naming_the_fix(task, monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(SCENE_CODECS._entries, task, raising=False)  # as today: no codec for the task yet
    monkeypatch.chdir(tmp_path)  # no runs/ folder
    with pytest.raises(HiwmError, match=f"hiwm run --task {task}") as e:
        load_models(task)
    assert "\n" not in str(e.value) and "--world-model" in str(e.value)
    assert main(["studio", "--task", task]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hiwm: error: no world model for") and "\n" not in err


@pytest.mark.parametrize("task", GRIPPER_TASKS)
def test_stand_ins_and_given_checkpoints_open(task, monkeypatch, tmp_path):
    with_raw_codec(monkeypatch, task)
    monkeypatch.chdir(tmp_path)
    models = load_models(task)
    assert models.builtin and models.policy.config.action_dim == 4 and models.world_model.config.task == task
    wm_dir = models.world_model.save(tmp_path / "wm")
    given = load_models(task, world_model=str(wm_dir))
    assert given.world_model_path == str(wm_dir) and given.policy_path == "builtin"
    assert given.world_model.checkpoint_id() == models.world_model.checkpoint_id()


def test_models_that_do_not_fit_the_task_are_refused(monkeypatch, tmp_path):
    for task in GRIPPER_TASKS:
        with_raw_codec(monkeypatch, task)
    monkeypatch.chdir(tmp_path)
    rope = builtin_world_model("rope-route").save(tmp_path / "rope_wm")
    with pytest.raises(HiwmError, match="is for rope-route, not towel-fold"):
        load_models("towel-fold", world_model=str(rope))
    pusht_policy = save_policy(builtin_policy("pusht"), tmp_path / "pusht_policy")
    with pytest.raises(HiwmError, match="acts in 2 dims, rope-route in 4"):
        load_models("rope-route", policy=str(pusht_policy), world_model=str(rope))
