"""Every transition of the session state machine, without any UI."""

import itertools

import pytest

from hiwm.session.machine import TRANSITIONS, Event, InvalidTransition, Phase, StateMachine


@pytest.mark.parametrize("phase,event", list(itertools.product(Phase, Event)))
def test_every_phase_event_pair(phase, event):
    m = StateMachine(phase)
    if (phase, event) in TRANSITIONS:
        assert m.fire(event) == TRANSITIONS[(phase, event)]
        assert m.phase == TRANSITIONS[(phase, event)]
    else:
        with pytest.raises(InvalidTransition) as e:
            m.fire(event)
        assert m.phase == phase, "a refused event changes nothing"
        assert "\n" not in str(e.value)


def test_the_correction_cycle():
    m = StateMachine(Phase.PAUSED)
    for event, phase in [(Event.RESUME, Phase.AUTONOMOUS), (Event.STEP, Phase.AUTONOMOUS),
                         (Event.TAKE_OVER, Phase.CORRECTING), (Event.ACT, Phase.CORRECTING),
                         (Event.HAND_BACK, Phase.AUTONOMOUS), (Event.END, Phase.ENDED),
                         (Event.ROLL_BACK, Phase.PAUSED), (Event.BRANCH, Phase.PAUSED)]:
        assert m.fire(event) == phase


def test_policy_cannot_step_while_operator_corrects():
    m = StateMachine(Phase.CORRECTING)
    assert not m.allowed(Event.STEP)
    assert Event.ACT in m.events() and Event.STEP not in m.events()


def test_ended_branch_only_allows_moving_the_cursor():
    assert set(StateMachine(Phase.ENDED).events()) == {Event.ROLL_BACK, Event.BRANCH, Event.MARK}
