"""The Hi-WM session as an explicit state machine: phases, events, and one transition table.

The studio and the scripted operator only send events; whether an event is allowed is decided here
and nowhere else, so every rule is unit-tested without any UI (tests/session/test_machine.py).

    AUTONOMOUS --pause--> PAUSED --resume--> AUTONOMOUS
    AUTONOMOUS/PAUSED --take_over--> CORRECTING --act--> CORRECTING --hand_back--> AUTONOMOUS
    any live phase --roll_back / branch--> PAUSED      (move the cursor; the next step branches)
    AUTONOMOUS/CORRECTING --end--> ENDED                (success, time limit, or the operator says so)
    ENDED --roll_back / branch--> PAUSED
"""

from __future__ import annotations

from enum import Enum

from hiwm.errors import HiwmError


class Phase(str, Enum):
    AUTONOMOUS = "autonomous"  # the policy acts inside the world model
    PAUSED = "paused"  # nothing moves; the cursor may be moved
    CORRECTING = "correcting"  # the operator acts; frames are flagged intervention=True
    ENDED = "ended"  # the current branch is finished (judged, or out of time)


class Event(str, Enum):
    STEP = "step"  # the policy takes one step
    PAUSE = "pause"
    RESUME = "resume"
    TAKE_OVER = "take_over"
    ACT = "act"  # one corrective step by the operator
    HAND_BACK = "hand_back"
    ROLL_BACK = "roll_back"  # move the cursor to a cached node
    BRANCH = "branch"  # start a new branch at the cursor
    MARK = "mark"  # mark a branch's outcome / keep / discard
    END = "end"


P, E = Phase, Event
TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (P.AUTONOMOUS, E.STEP): P.AUTONOMOUS,
    (P.AUTONOMOUS, E.PAUSE): P.PAUSED,
    (P.AUTONOMOUS, E.TAKE_OVER): P.CORRECTING,
    (P.AUTONOMOUS, E.ROLL_BACK): P.PAUSED,
    (P.AUTONOMOUS, E.BRANCH): P.PAUSED,
    (P.AUTONOMOUS, E.MARK): P.AUTONOMOUS,
    (P.AUTONOMOUS, E.END): P.ENDED,
    (P.PAUSED, E.RESUME): P.AUTONOMOUS,
    (P.PAUSED, E.TAKE_OVER): P.CORRECTING,
    (P.PAUSED, E.ROLL_BACK): P.PAUSED,
    (P.PAUSED, E.BRANCH): P.PAUSED,
    (P.PAUSED, E.MARK): P.PAUSED,
    (P.PAUSED, E.PAUSE): P.PAUSED,
    (P.PAUSED, E.END): P.ENDED,
    (P.CORRECTING, E.ACT): P.CORRECTING,
    (P.CORRECTING, E.HAND_BACK): P.AUTONOMOUS,
    (P.CORRECTING, E.PAUSE): P.PAUSED,
    (P.CORRECTING, E.ROLL_BACK): P.PAUSED,
    (P.CORRECTING, E.BRANCH): P.PAUSED,
    (P.CORRECTING, E.MARK): P.CORRECTING,
    (P.CORRECTING, E.END): P.ENDED,
    (P.ENDED, E.ROLL_BACK): P.PAUSED,
    (P.ENDED, E.BRANCH): P.PAUSED,
    (P.ENDED, E.MARK): P.ENDED,
}


class InvalidTransition(HiwmError):
    """An event that the current phase does not allow; nothing changes."""


class StateMachine:
    def __init__(self, phase: Phase = Phase.PAUSED):
        self.phase = Phase(phase)

    def allowed(self, event: Event) -> bool:
        return (self.phase, Event(event)) in TRANSITIONS

    def next_phase(self, event: Event) -> Phase:
        """The phase ``event`` leads to; raises InvalidTransition (and changes nothing) if not allowed."""
        key = (self.phase, Event(event))
        if key not in TRANSITIONS:
            raise InvalidTransition(f"'{Event(event).value}' is not allowed while {self.phase.value}")
        return TRANSITIONS[key]

    def fire(self, event: Event) -> Phase:
        self.phase = self.next_phase(event)
        return self.phase

    def events(self) -> list[Event]:
        """The events the current phase accepts (what a UI should enable)."""
        return [e for (p, e) in TRANSITIONS if p == self.phase]
