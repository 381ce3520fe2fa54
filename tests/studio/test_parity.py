"""Studio corrections give the same dataset rows as the scripted operator's for the same actions.

The scripted operator drives an engine session directly while every event it sends is recorded; the
same events are then replayed through the studio's WebSocket as a person's page would send them. Both
trees are exported by the one export function, and the two datasets must agree row for row.
"""


import numpy as np
from studio_helpers import LocalClient, make_studio
from ws_client import Driver

from hiwm.data import LeRobotDataset
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import exportable_branches
from hiwm.session.operators import OperatorConfig, ScriptedOperator
from hiwm.session.export import export_branches
from hiwm.studio.server import create_app


MAX_STEPS = 24
EVENTS = ("resume", "step", "take_over", "act", "hand_back", "roll_back", "branch")


class Recorder:
    """Forwards everything to the session and records the events the operator sends."""

    def __init__(self, session: Session):
        self._s = session
        self.events: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        attr = getattr(self._s, name)
        if name not in EVENTS:
            return attr

        def call(*args):
            self.events.append((name, tuple(np.asarray(a, dtype=np.float64).tolist() if name == "act" else a for a in args)))
            return attr(*args)
        return call


def _rows(root) -> dict:
    ds = LeRobotDataset(root)
    eps = [ds.episode(i, decode_images=False) for i in range(ds.num_episodes)]
    return {k: np.concatenate([ep[k] for ep in eps]) for k in eps[0]}


def test_studio_and_scripted_operator_give_the_same_rows(tmp_path, policy, world_model):
    studio = make_studio(policy, world_model, tmp_path / "studio", max_steps=MAX_STEPS)
    cfg = SessionConfig(max_steps=MAX_STEPS, seed=studio.cfg.seed)
    obs0 = studio.task.observe(studio.task.initial_scene(studio.cfg.initial_seed))
    scripted = Recorder(Session.start(policy, world_model, obs0, cfg))
    op = ScriptedOperator("pusht", OperatorConfig(horizon=3, rollback=2, branches=2, budget=12, disagree=0.0, patience=1,
                                                  warmup=2, stall_steps=50, max_corrections=1))
    op.run(scripted)
    assert op.stats.operator_steps > 0 and op.stats.branches == 2

    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = Driver(ws.send_text, ws.receive_text)
        for name, args in scripted.events:
            fields = {"act": lambda a: {"action": a[0]}, "roll_back": lambda a: {"node": int(a[0])}}.get(name, lambda a: {})(args)
            reply = d(name, **fields)
            assert reply["type"] == "ack", (name, reply)

    ckpt = world_model.checkpoint_id()
    branches = exportable_branches(scripted.tree)
    assert branches == exportable_branches(studio.session.tree) and branches
    export_branches(scripted.tree, branches, tmp_path / "scripted_ds", studio.spec, ckpt, "same")
    export_branches(studio.session.tree, branches, tmp_path / "studio_ds", studio.spec, ckpt, "same")
    a, b = _rows(tmp_path / "scripted_ds"), _rows(tmp_path / "studio_ds")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert a["intervention"].any() and set(a["source"]) == {"policy", "operator"}
