"""Every task declares how a person's devices map onto its action (tasks/controls.py), and the layout fits it."""

import dataclasses

import numpy as np
import pytest

from hiwm.errors import HiwmError
from hiwm.tasks import TASKS, ActionLayout, TaskSpec, action_layout, task_class


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_declares_a_layout_that_fits_its_action(name):
    spec = task_class(name).spec_
    layout = action_layout(spec)
    assert "controls" in spec.extra and len(layout.names) == spec.action_dim
    lo, hi = np.asarray(spec.action_low), np.asarray(spec.action_high)
    ix, iy = layout.xy
    left, right, top, bottom = layout.view
    assert {min(left, right), max(left, right)} == {lo[ix], hi[ix]}, "the picture spans the XY box"
    assert {min(top, bottom), max(top, bottom)} == {lo[iy], hi[iy]}
    assert layout.xy_speed[1] < (hi[ix] - lo[ix]) / 10, "a key press moves a small part of the workspace"
    if layout.height is not None:
        assert 0 < layout.height_speed < hi[layout.height] - lo[layout.height]
    if layout.grasp is not None:
        assert lo[layout.grasp] < layout.grasp_closed <= hi[layout.grasp]


def test_the_picture_frames_follow_each_task_s_render():
    assert action_layout(task_class("pusht").spec_).view == (0.0, 512.0, 0.0, 512.0)  # +y down, in px
    for name in ("rope-route", "towel-fold"):
        layout = action_layout(task_class(name).spec_)
        assert layout.view == (-0.25, 0.25, 0.25, -0.25) and (layout.height, layout.grasp) == (2, 3)  # +y up


def test_a_task_without_a_layout_gets_one_from_its_box_and_bad_layouts_fail_in_one_line():
    spec = TaskSpec("toy", 10, 10, (0.0, -1.0, 0.0), (2.0, 1.0, 1.0), agent_dim=3, env_dim=1, scene_dim=4)
    layout = action_layout(spec)
    assert layout.xy == (0, 1) and layout.view == (0.0, 2.0, -1.0, 1.0) and layout.height is None
    good = ActionLayout(names=("x", "y", "z"), units=("m",) * 3, view=(0.0, 2.0, 1.0, -1.0), height=2,
                        xy_speed=(0.01, 0.05, 0.2), height_speed=0.02)
    assert action_layout(dataclasses.replace(spec, extra={"controls": good})) is good
    for bad in (dict(names=("x", "y")), dict(height=1), dict(grasp=3), dict(view=(0.0, 0.0, 1.0, -1.0)),
                dict(xy_speed=(0.1, 0.05, 0.2)), dict(height_speed=0.0)):
        with pytest.raises(HiwmError, match="action layout") as e:
            action_layout(dataclasses.replace(spec, extra={"controls": dataclasses.replace(good, **bad)}))
        assert "\n" not in str(e.value)
    with pytest.raises(HiwmError, match="must be an ActionLayout"):
        action_layout(dataclasses.replace(spec, extra={"controls": {"xy": [0, 1]}}))
