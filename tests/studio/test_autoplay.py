"""Autoplay when the policy cannot step (NaN weights): the session pauses, every tab is told in one line, one
warning is logged, and the studio does not try again by itself."""

import asyncio
import logging

import torch
from studio_helpers import FakeTab, make_studio

from hiwm.errors import HiwmError
from hiwm.session.machine import Phase


class CountingPolicy:
    """The tiny policy with its act replaced: ``nan`` returns NaN actions (NaN weights), else act raises."""

    def __init__(self, inner, nan: bool):
        self._inner, self.nan, self.calls = inner, nan, 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def act(self, state, obs, generator=None):
        self.calls += 1
        if not self.nan:
            raise HiwmError("the policy cannot act here")
        action, state = self._inner.act(state, obs, generator=generator)
        return torch.full_like(action, float("nan")), state


async def _run_until_paused(studio, tabs: list[FakeTab]) -> None:
    for tab in tabs:  # both watch before the tick starts (the first tab's connect resumes a fresh session)
        await studio.connect(tab.send, tab.close)
    assert studio.session.phase == Phase.AUTONOMOUS
    await studio.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while studio.session.phase != Phase.PAUSED:
        assert loop.time() < deadline, "autoplay never paused"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # ~9 more periods at 30 Hz: an autoplay that retried would have called the policy again
    await studio.close()


def _check_paused_once(studio, policy: CountingPolicy, tabs: list[FakeTab], caplog, says: str) -> None:
    assert policy.calls == 1, "autoplay tried the failing step again"
    assert len(studio.session.tree) == 1, "no node was added"
    for tab in tabs:
        errors = tab.of_type("error")
        assert len(errors) == 1, errors
        msg = errors[0]["message"]
        assert msg.startswith("autoplay paused: ") and says in msg and "\n" not in msg, msg
        assert tab.of_type("update")[-1]["state"]["phase"] == "paused"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("hiwm.studio")]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING, [r.getMessage() for r in warned]


def test_autoplay_pauses_once_when_the_step_fails(tmp_path, policy, world_model, caplog):
    bad = CountingPolicy(policy, nan=False)
    studio = make_studio(bad, world_model, tmp_path / "s", autoplay=True, rate_hz=30)
    tabs = [FakeTab(), FakeTab()]
    with caplog.at_level(logging.INFO):
        asyncio.run(_run_until_paused(studio, tabs))
    _check_paused_once(studio, bad, tabs, caplog, "cannot act here")


def test_nan_policy_actions_pause_autoplay(tmp_path, policy, world_model, caplog):
    """End to end with the engine's own check (Session.step refuses a non-finite action)."""
    bad = CountingPolicy(policy, nan=True)
    studio = make_studio(bad, world_model, tmp_path / "s", autoplay=True, rate_hz=30)
    tabs = [FakeTab(), FakeTab()]
    with caplog.at_level(logging.INFO):
        asyncio.run(_run_until_paused(studio, tabs))
    _check_paused_once(studio, bad, tabs, caplog, "non-finite")


def test_a_failed_single_step_leaves_the_session_paused(tmp_path, policy, world_model):
    bad = CountingPolicy(policy, nan=True)
    studio = make_studio(bad, world_model, tmp_path / "s", autoplay=True, rate_hz=30)

    async def scenario():
        tab = FakeTab()
        client = await studio.connect(tab.send, tab.close)
        await studio.handle(client, '{"type":"pause","seq":1}')
        await studio.handle(client, '{"type":"step","seq":2}')  # resume, step (refused), and back to paused
        await studio.close()
        return tab

    tab = asyncio.run(scenario())
    reply = tab.got[-1]
    assert reply["type"] == "error" and reply["seq"] == 2 and "non-finite" in reply["message"], reply
    assert studio.session.phase == Phase.PAUSED and len(studio.session.tree) == 1
