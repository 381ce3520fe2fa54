// Input adapters: every device maps into the policy's action space through one hub.
//
// The hub owns the operator's target (an absolute action, clipped into the task's action box) and
// sends it as one `act` per control tick while any device is active. A device is an adapter object
//   { name, attach(hub), poll(hub, dt) }
// that calls hub.nudge(direction) (a unit vector scaled by the speed setting, action units per step),
// hub.moveTo(action) (absolute), hub.setActive(name, bool) and hub.command(name). A new device is a new
// adapter registered with hub.add(adapter); nothing else on the page changes.
"use strict";

class InputHub {
  /** @param {{low:number[], high:number[], fps:number, send:(a:number[])=>void, command:(c:string)=>void}} opts */
  constructor(opts) {
    this.low = opts.low;
    this.high = opts.high;
    this.send = opts.send;
    this.command = opts.command;
    this.period = 1000 / (opts.fps || 10);
    this.speed = 12; // action units per step (Push-T: px)
    this.target = this.low.map((lo, i) => (lo + this.high[i]) / 2);
    this.active = new Set();
    this.adapters = [];
    this.enabled = () => true; // the page turns input off while another tab holds control
    this.onTarget = () => {};
    this._last = 0;
    this._timer = setInterval(() => this._tick(), Math.max(10, this.period / 4));
  }

  add(adapter) {
    this.adapters.push(adapter);
    adapter.attach(this);
    return adapter;
  }

  clip(a) {
    return a.map((v, i) => Math.min(this.high[i], Math.max(this.low[i], v)));
  }

  /** Start from where the agent is (its state, in the same units as the action box). */
  reset(action) {
    if (action && action.length === this.low.length) this.target = this.clip(action.slice());
    this.onTarget(this.target);
  }

  nudge(dir, scale = 1) {
    const t = this.target.slice();
    for (let i = 0; i < dir.length && i < t.length; i++) t[i] += dir[i] * this.speed * scale;
    this.moveTo(t);
  }

  moveTo(action) {
    this.target = this.clip(action);
    this.onTarget(this.target);
  }

  /** A device became active (key pressed, button down): act now, then every control period. */
  setActive(name, on) {
    if (on && !this.active.has(name)) {
      this.active.add(name);
      this.fire();
    } else if (!on) {
      this.active.delete(name);
    }
  }

  fire() {
    if (!this.enabled()) return;
    this._last = performance.now();
    this.send(this.target.slice());
  }

  _tick() {
    const now = performance.now();
    for (const a of this.adapters) if (a.poll) a.poll(this, now);
    if (this.active.size && now - this._last >= this.period) {
      for (const a of this.adapters) if (a.step) a.step(this);
      this.fire();
    }
  }
}

// WASD / arrows move the target by `speed` per step; Shift moves three times as far.
class KeyboardAdapter {
  constructor() {
    this.name = "keyboard";
    this.dirs = { KeyW: [0, -1], ArrowUp: [0, -1], KeyS: [0, 1], ArrowDown: [0, 1],
                  KeyA: [-1, 0], ArrowLeft: [-1, 0], KeyD: [1, 0], ArrowRight: [1, 0] };
    this.held = new Set();
    this.fast = false;
  }

  attach(hub) {
    const typing = (e) => e.target && ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) && e.target.type !== "button";
    window.addEventListener("keydown", (e) => {
      if (!(e.code in this.dirs) || typing(e)) return;
      e.preventDefault();
      this.fast = e.shiftKey;
      if (e.repeat || this.held.has(e.code)) return;
      this.held.add(e.code);
      hub.command("engage");
      hub.nudge(this.dir(), this.fast ? 3 : 1);
      hub.setActive(this.name, true);
    });
    window.addEventListener("keyup", (e) => {
      if (!(e.code in this.dirs)) return;
      this.held.delete(e.code);
      if (!this.held.size) hub.setActive(this.name, false);
    });
    window.addEventListener("blur", () => { this.held.clear(); hub.setActive(this.name, false); });
  }

  dir() {
    const d = [0, 0];
    for (const c of this.held) { d[0] += this.dirs[c][0]; d[1] += this.dirs[c][1]; }
    const n = Math.hypot(d[0], d[1]) || 1;
    return [d[0] / n, d[1] / n];
  }

  step(hub) {
    if (this.held.size) hub.nudge(this.dir(), this.fast ? 3 : 1);
  }
}

// Press and drag on the frame: the target follows the pointer (Push-T: the pusher's target position).
class MouseAdapter {
  constructor(canvas) {
    this.name = "mouse";
    this.canvas = canvas;
  }

  toAction(hub, e) {
    const r = this.canvas.getBoundingClientRect();
    const fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height;
    const t = hub.target.slice();
    t[0] = hub.low[0] + fx * (hub.high[0] - hub.low[0]);
    if (t.length > 1) t[1] = hub.low[1] + fy * (hub.high[1] - hub.low[1]);
    return t;
  }

  attach(hub) {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      hub.command("engage");
      hub.moveTo(this.toAction(hub, e));
      hub.setActive(this.name, true);
    });
    c.addEventListener("pointermove", (e) => { if (hub.active.has(this.name)) hub.moveTo(this.toAction(hub, e)); });
    const up = () => hub.setActive(this.name, false);
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
  }
}

// Browser Gamepad API: left stick moves the target (speed x deflection); A takes over / hands back,
// B pauses / resumes, X branches.
class GamepadAdapter {
  constructor() {
    this.name = "gamepad";
    this.dead = 0.15;
    this.buttons = {};
    this.axes = [0, 0];
  }

  attach(hub) {}

  poll(hub) {
    const pads = navigator.getGamepads ? navigator.getGamepads() : [];
    const pad = Array.from(pads || []).find((p) => p && p.connected);
    if (!pad) return;
    const ax = [pad.axes[0] || 0, pad.axes[1] || 0].map((v) => (Math.abs(v) < this.dead ? 0 : v));
    this.axes = ax;
    const moving = ax[0] !== 0 || ax[1] !== 0;
    if (moving && !hub.active.has(this.name)) { hub.command("engage"); hub.nudge(ax); }
    hub.setActive(this.name, moving);
    const map = { 0: "toggle_control", 1: "toggle_pause", 2: "branch" };
    for (const [i, cmd] of Object.entries(map)) {
      const down = !!(pad.buttons[i] && pad.buttons[i].pressed);
      if (down && !this.buttons[i]) hub.command(cmd);
      this.buttons[i] = down;
    }
  }

  step(hub) {
    if (this.axes[0] || this.axes[1]) hub.nudge(this.axes);
  }
}

window.HiwmInput = { InputHub, KeyboardAdapter, MouseAdapter, GamepadAdapter };
