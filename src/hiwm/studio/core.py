"""The studio's core: one session engine, many watching tabs, one of them in control.

All work on the session (which is not thread-safe) runs on one dedicated thread, one call at a time,
through :meth:`Studio.run`; the asyncio loop only receives messages and sends replies, so a slow policy
step never blocks a tab's input from being read. Every browser message becomes one engine event
(or a query); the studio adds nothing the scripted operator could not do through the same engine.

Each change is broadcast as an ``update``: the session state, the tree nodes added since the last
update, the branches, and the frame at the cursor (PNG, base64). ``state.version`` increases with every
update so a tab can drop one that arrives late.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import cv2
import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import exportable_branches
from hiwm.session.machine import Phase
from hiwm.session.tree import Node
from hiwm.session.export import export_branches
from hiwm.studio.failures import QueueConfig, failure_queue, uncertainty_threshold
from hiwm.studio.models import Models
from hiwm.studio.protocol import MUTATING, RATE_HZ, Message, ProtocolError, check_action, encode, parse_message
from hiwm.tasks import action_layout
from hiwm.tasks.base import STATE_KEY

log = logging.getLogger(__name__)

LOG_NAME = "session.jsonl"
SEND_TIMEOUT_S = 2.0


@dataclass
class StudioConfig:
    task: str = "pusht"
    session_dir: Path = Path("runs/studio/pusht")
    initial_seed: int = 20000  # the initial state (the protocol's correction seeds start here)
    seed: int = 0  # policy sampling
    max_steps: int | None = None  # default: the task's episode limit
    rate_hz: float = 15.0  # autonomous stepping rate
    autoplay: bool = True  # step the policy while autonomous (tests drive steps themselves)
    frame_size: int = 256
    torch_threads: int | None = 1  # intra-op threads while the studio runs (None: leave as is)
    queue: QueueConfig = field(default_factory=QueueConfig)


@dataclass
class Client:
    id: int
    send: Callable[[str], Awaitable[None]]
    close: Callable[[], Awaitable[None]] | None = None  # closes its socket (the studio drops a stuck tab)


def check_session_dir(path: Path) -> None:
    """A session folder must be a folder (new or existing): a file there, or above it, is a mistake to name."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise HiwmError(f"session folder {path}: {existing} is a file; pass a folder (new or one holding {LOG_NAME})")


def _decimals(low, high) -> int:
    """Decimals that resolve a ten-thousandth of the narrowest action range (Push-T px: 2; metres: 5)."""
    span = float(np.min(np.subtract(high, low)))
    return max(0, int(np.ceil(4 - np.log10(span))))


def _node_record(n: Node, dec: int) -> dict:
    """A tree node for the page: ids, who acted, the action and the agent's state, the judge's verdicts."""
    return {"id": n.id, "p": n.parent_id, "d": n.depth, "b": n.branch_id, "s": n.source, "i": n.intervention,
            "a": None if n.action is None else [round(float(v), dec) for v in n.action],
            "x": [round(float(v), dec) for v in n.obs[STATE_KEY]], "g": round(n.progress, 4),
            "u": float(f"{n.uncertainty:.3g}"), "ok": n.success}


class Studio:
    def __init__(self, models: Models, config: StudioConfig):
        if not RATE_HZ[0] <= config.rate_hz <= RATE_HZ[1]:  # also refuses NaN; 0 would stop autoplay, inf unthrottle it
            raise HiwmError(f"rate {config.rate_hz} Hz is outside [{RATE_HZ[0]:g}, {RATE_HZ[1]:g}]")
        check_session_dir(Path(config.session_dir))
        self.models, self.cfg = models, config
        self.task = models.world_model.task
        self.spec = self.task.spec_
        self.layout = action_layout(self.spec)  # which action dims are XY / height / grasp, for the page
        self._dec = _decimals(self.spec.action_low, self.spec.action_high)
        self._warn = uncertainty_threshold(self.task, config.queue)  # world-model spread, task units
        # Batch-1 inference gains nothing from intra-op threads, and on a busy 2-core machine they cost a
        # hundredfold (a tiny policy's chunk: 1.3 s with 2 threads, 8 ms with 1); restored on close().
        self._threads = torch.get_num_threads()
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hiwm-session")
        self.session, self.session_id = self._open_session()
        self.clients: dict[int, Client] = {}
        self.controller: int | None = None
        self.rate = float(config.rate_hz)
        self.queue: list[dict] = []
        self.spreads: dict[int, float] = {}
        self.exports: list[dict] = []
        self._next_client = 1
        self._sent_upto = 0  # nodes [0, _sent_upto) were in an earlier update
        self._version = 0
        self._tick_task: asyncio.Task | None = None
        self._closing: set[asyncio.Task] = set()  # sockets of dropped tabs being closed
        self._autoplay_error: str | None = None  # set on the session thread when autoplay had to stop
        self._order = asyncio.Lock()  # a change and its broadcast go out together, in the order made

    # ------------------------------------------------------------------ setup ----
    @property
    def log_path(self) -> Path:
        return Path(self.cfg.session_dir) / LOG_NAME

    @property
    def dataset_root(self) -> Path:
        return Path(self.cfg.session_dir) / "corrections"

    def _open_session(self) -> tuple[Session, str]:
        m, cfg = self.models, self.cfg
        if self.log_path.exists():
            s = Session.resume_from(self.log_path, m.policy, m.world_model)
            sid = str(s.meta.get("session_id", self.log_path.parent.name))
            log.info("resumed session %s from %s (%d nodes)", sid, self.log_path, len(s.tree))
            return s, sid
        sid = uuid.uuid4().hex[:12]
        obs0 = self.task.observe(self.task.initial_scene(cfg.initial_seed))
        scfg = SessionConfig(max_steps=cfg.max_steps or self.spec.max_steps, seed=cfg.seed)
        s = Session.start(m.policy, m.world_model, obs0, scfg, log_path=self.log_path, meta={
            "session_id": sid, "initial_seed": cfg.initial_seed, "policy": m.policy_path, "source": "studio"})
        log.info("new session %s at %s", sid, self.log_path)
        return s, sid

    async def start(self) -> None:
        self._tick_task = asyncio.create_task(self._tick())

    async def close(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
        await self.run(lambda: self.session.log and self.session.log.close())
        self._pool.shutdown(wait=True)
        torch.set_num_threads(self._threads)

    async def run(self, fn, *args):
        """Run ``fn`` on the session thread (one call at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def change(self, fn, *args) -> None:
        """Run ``fn`` (which returns an update, or None) and broadcast its update before any later change."""
        async with self._order:
            update = await self.run(fn, *args)
            if update:
                await self._broadcast(update)

    # ------------------------------------------------------------- clients ----
    async def connect(self, send: Callable[[str], Awaitable[None]],
                      close: Callable[[], Awaitable[None]] | None = None) -> Client:
        """A new tab: ``send`` delivers one text message to it, ``close`` closes its socket."""
        client = Client(self._next_client, send, close)
        self._next_client += 1
        self.clients[client.id] = client
        if self.controller is None:
            self.controller = client.id
        if self.cfg.autoplay and len(self.session.tree) == 1 and self.session.phase == Phase.PAUSED:
            await self.run(self.session.resume)  # a fresh session: the first tab sees the policy act
        async with self._order:
            hello = await self.run(self._hello, client.id)
            await self._send(client, hello)
        await self._broadcast_control()
        return client

    async def disconnect(self, client: Client) -> None:
        """The tab is gone (its socket ended, or it was dropped): it no longer watches nor holds control."""
        self.clients.pop(client.id, None)
        if self.controller == client.id:
            self.controller = None
            await self._broadcast_control()

    async def _drop(self, client: Client) -> None:
        """A tab that cannot be sent to: forget it, then close its socket so it cannot act blind."""
        if client.id not in self.clients:
            return
        await self.disconnect(client)
        if client.close is not None:
            task = asyncio.create_task(self._close_socket(client))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close_socket(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.close(), SEND_TIMEOUT_S)
        except Exception:  # noqa: BLE001  (already gone: the transport ends it)
            log.debug("studio: closing tab %d failed", client.id, exc_info=True)

    def _hello(self, client_id: int) -> str:
        s, m = self.session, self.models
        return encode({
            "type": "hello", "client": client_id, "session": self.session_id, "session_dir": str(self.cfg.session_dir),
            "spec": {"task": self.spec.name, "description": self.spec.description, "fps": self.spec.fps,
                     "action_low": list(self.spec.action_low), "action_high": list(self.spec.action_high),
                     "max_steps": s.config.max_steps, "controls": self.layout.to_dict()},
            "models": {"policy": m.policy_path, "world_model": m.world_model_path, "builtin": m.builtin,
                       "wm_checkpoint": m.world_model.checkpoint_id()},
            "queue_config": asdict(self.cfg.queue), "dataset": str(self.dataset_root),
            "post_train": self._post_train_command(),
            **self._update_body(all_nodes=True), "nodes": [_node_record(n, self._dec) for n in s.tree.nodes.values()],
            "queue": self.queue,
        })

    def _post_train_command(self) -> str:
        policy = self.models.policy_path if not self.models.builtin else "<your policy checkpoint>"
        return (f"hiwm post-train --task {self.cfg.task} --policy {policy} --demos <base demos dataset> --corrections {self.dataset_root} "
                f"--out {Path(self.cfg.session_dir) / 'post_trained'}")

    # ------------------------------------------------------------ messages ----
    async def handle(self, client: Client, raw: str | bytes) -> None:
        """One browser message: validate, apply, reply. Never raises (a bad message changes nothing)."""
        if client.id not in self.clients:  # a dropped tab: it saw none of the recent updates, so it may not act
            log.debug("studio: ignoring a message from dropped tab %d", client.id)
            return
        seq = None
        try:
            msg = parse_message(raw)
            seq = msg.seq
            await self._dispatch(client, msg)
        except HiwmError as e:  # ProtocolError, InvalidTransition, unknown node ids, ...
            await self._send(client, encode({"type": "error", "seq": seq, "message": str(e).splitlines()[0]}))
        except Exception as e:  # a bug must not kill the server or the session
            log.exception("studio: message failed")
            await self._send(client, encode({"type": "error", "seq": seq, "message": f"internal error ({type(e).__name__})"}))

    async def _dispatch(self, client: Client, msg: Message) -> None:
        t = msg.type
        if t == "claim":
            if self.controller not in (None, client.id):
                raise ProtocolError(f"tab {self.controller} holds control; it must release it first")
            self.controller = client.id
            await self._broadcast_control()
        elif t == "release":
            if self.controller == client.id:
                self.controller = None
                await self._broadcast_control()
        elif t == "scan":
            self.queue = await self.run(self._scan, self.cfg.queue.budget)
            await self._broadcast(encode({"type": "queue", "queue": self.queue}))
        elif t in MUTATING:
            if self.controller not in (None, client.id):
                raise ProtocolError(f"tab {self.controller} holds control (watching only)")
            took = self.controller is None  # acting takes free control, kept only if the action is accepted
            self.controller = client.id
            try:
                await self._mutate(msg)
            except BaseException:
                if took and self.controller == client.id:
                    self.controller = None
                raise
            if took:
                await self._broadcast_control()
        await self._send(client, encode({"type": "ack", "seq": msg.seq, "op": t, "cursor": self.session.cursor,
                                         "saved": len(self.session.tree)}))

    async def _mutate(self, msg: Message) -> None:
        t = msg.type
        if t == "rate":
            self.rate = msg["hz"]
        elif t == "export":
            records = await self.run(self._export)
            await self._broadcast(encode({"type": "exported", "records": records, "dataset": str(self.dataset_root),
                                          "post_train": self._post_train_command()}))
        else:
            await self.change(self._apply, msg)

    def _apply(self, msg: Message) -> str:
        """Turn one validated message into engine events (session thread); returns the update to send."""
        s, t = self.session, msg.type
        if t == "act":
            s.act(check_action(msg["action"], self.spec.action_low, self.spec.action_high))
        elif t == "roll_back":
            s.roll_back(msg["node"])
        elif t == "mark":
            s.mark(msg["branch"], outcome=msg["outcome"], keep=msg["keep"])
        elif t == "end":
            s.end(msg["outcome"])
        elif t == "step":
            self._step_once()
        else:  # pause, resume, take_over, hand_back, branch: one engine event each
            getattr(s, t)()
        if s.phase == Phase.ENDED:
            self.queue = self._scan(8)
        return self._update()

    def _step_once(self) -> None:
        """One policy step: from PAUSED it is resume, step, pause (the cursor advances, nothing keeps running)."""
        s = self.session
        if s.phase == Phase.PAUSED:
            s.resume()
            try:
                s.step()
            finally:  # a failed step (a non-finite action) leaves the session paused, not running
                if s.phase == Phase.AUTONOMOUS:
                    s.pause()
        else:
            s.step()  # anything but AUTONOMOUS: the state machine refuses, nothing changes

    def _export(self) -> list[dict]:
        s = self.session
        kept = exportable_branches(s.tree, only_kept=True)
        if not kept:
            raise HiwmError("no kept branch to export: keep a branch first")
        records = export_branches(s.tree, kept, self.dataset_root, self.spec, self.models.world_model.checkpoint_id(),
                                  self.session_id, meta={"initial_seed": self.cfg.initial_seed, "operator": "studio"},
                                  world_model=self.models.world_model)
        self.exports.extend(records)
        return records

    def _scan(self, budget: int) -> list[dict]:
        qcfg = QueueConfig(**{**asdict(self.cfg.queue), "budget": budget})
        return failure_queue(self.session.tree, self.models.policy, self.session.task, qcfg, self.spreads, self.cfg.seed)

    # ----------------------------------------------------------- autoplay ----
    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            # Deadline pacing: the policy predicts a chunk every n_action_steps steps (slow) and pops queued
            # actions in between (fast); catching up after a chunk keeps the average at ``rate``.
            deadline += 1.0 / self.rate
            try:
                if self.cfg.autoplay and self.session.phase == Phase.AUTONOMOUS:
                    await self.change(self._auto_step)
                    if self._autoplay_error:
                        error, self._autoplay_error = self._autoplay_error, None
                        await self._broadcast(encode({"type": "error", "seq": None, "message": error}))
                    if self.session.phase == Phase.ENDED:
                        await self._broadcast(encode({"type": "queue", "queue": self.queue}))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (keep ticking; the error is logged)
                log.exception("studio: autonomous step failed")
                await asyncio.sleep(1.0)
            if not self.cfg.autoplay or self.session.phase != Phase.AUTONOMOUS:
                deadline = loop.time()  # idle: look again one period later
                await asyncio.sleep(1.0 / self.rate)
                continue
            if deadline < loop.time() - 0.5:
                deadline = loop.time()  # never burst to make up for a long stall
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    def _auto_step(self) -> str | None:
        s = self.session
        if s.phase != Phase.AUTONOMOUS:  # a tab paused or took over since the tick looked
            return None
        try:
            s.step()
        except Exception as e:  # noqa: BLE001  (e.g. a non-finite policy action: retrying gives the same)
            if s.phase == Phase.AUTONOMOUS:
                s.pause()
            if isinstance(e, HiwmError):
                self._autoplay_error = f"autoplay paused: {(str(e).splitlines() or [type(e).__name__])[0]}"
                log.warning("studio: %s", self._autoplay_error)
            else:  # a bug: the traceback goes to the log, one line to the tabs
                log.exception("studio: autoplay paused: the policy step failed")
                self._autoplay_error = f"autoplay paused: internal error ({type(e).__name__})"
        if s.phase == Phase.ENDED:
            self.queue = self._scan(8)
        return self._update()

    # ------------------------------------------------------------- updates ----
    def _update(self) -> str:
        return encode({"type": "update", **self._update_body()})

    def _update_body(self, all_nodes: bool = False) -> dict:
        """State, new nodes, branches and the cursor frame (session thread)."""
        s = self.session
        nodes = list(s.tree.nodes.values())[self._sent_upto:] if not all_nodes else []
        self._sent_upto = len(s.tree)
        self._version += 1
        node = s.node
        warn = self._warn
        acting = {Phase.AUTONOMOUS: "policy", Phase.CORRECTING: "person"}.get(s.phase, s.phase.value)
        return {
            "state": {"version": self._version, "phase": s.phase.value, "acting": acting, "cursor": s.cursor,
                      "branch": s.branch_id, "depth": node.depth, "progress": round(node.progress, 4),
                      "uncertainty": float(f"{node.uncertainty:.3g}"),
                      "trust": round(max(0.0, 1 - node.uncertainty / (2 * warn)), 3),
                      "warn": node.uncertainty > warn, "events": [e.value for e in s.machine.events()],
                      "controller": self.controller, "rate": self.rate, "operator_steps": s.operator_steps,
                      "saved": len(s.tree), "time": time.time()},
            "nodes": [_node_record(n, self._dec) for n in nodes],
            "branches": [asdict(b) for b in s.tree.branches.values()],
            "frame": self._frame(node),
        }

    def _frame(self, node: Node) -> str:
        """What the world model predicts at ``node`` as a base64 PNG (frame_size x frame_size): the frame itself for
        a kind that models pixels, else a drawing of its predicted scene."""
        frame = self.models.world_model.frame(node.wm_state)
        if frame is not None:
            img = cv2.resize(frame[0], (self.cfg.frame_size, self.cfg.frame_size), interpolation=cv2.INTER_LINEAR)
        else:
            scene = np.clip(np.nan_to_num(self.task.scene_of(node.obs), nan=0.0), -1e4, 1e4)  # a diverged model draws
            img = self.task.render_scene(scene, self.cfg.frame_size)
        ok, png = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))
        if not ok:
            raise HiwmError("could not encode the frame as PNG")
        return base64.b64encode(png.tobytes()).decode("ascii")

    async def _broadcast_control(self) -> None:
        await self._broadcast(encode({"type": "control", "controller": self.controller,
                                      "clients": sorted(self.clients)}))

    async def _broadcast(self, text: str) -> None:
        await asyncio.gather(*(self._send(c, text) for c in list(self.clients.values())))

    async def _send(self, client: Client, text: str) -> None:
        if client.id not in self.clients:  # dropped: it gets nothing more
            return
        try:
            await asyncio.wait_for(client.send(text), SEND_TIMEOUT_S)
        except Exception:  # noqa: BLE001  (a closed or stuck tab is dropped, the others go on)
            log.info("studio: dropping tab %d (a send failed or took over %.0f s)", client.id, SEND_TIMEOUT_S)
            await self._drop(client)
