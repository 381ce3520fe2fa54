// Input adapters: every device maps into the task's action through one hub.
//
// The hub owns the operator's target (an absolute action, clipped into the task's action box) and
// sends it as one `act` per control tick while any device is active. All it knows of the task is the
// action layout the server sends (tasks/controls.py): which dims are XY, height and grasp, their units,
// and which rectangle of the XY plane the frame shows (`view`: left, right, top, bottom edges).
// A device is an adapter object { name, attach(hub), poll(hub, now), step(hub) } that calls
//   hub.nudge({x, y, z})       screen right / screen up / height up, each in [-1, 1], scaled by the speed
//   hub.moveToScreen(fx, fy)   a point on the frame (fractions of its width and height)
//   hub.toggleGrasp(), hub.setActive(name, bool), hub.command(name)
// A new device is a new adapter registered with hub.add(adapter); nothing else on the page changes.
"use strict";

class InputHub {
  /** @param {{low:number[], high:number[], fps:number, layout:object, send:(a:number[])=>void, command:(c:string)=>void}} opts */
  constructor(opts) {
    this.low = opts.low;
    this.high = opts.high;
    this.layout = opts.layout;
    this.send = opts.send;
    this.command = opts.command;
    this.period = 1000 / (opts.fps || 10);
    this.speed = this.layout.xy_speed[1]; // XY units per step
    this.target = this.low.map((lo, i) => (lo + this.high[i]) / 2);
    this.active = new Set();
    this.adapters = [];
    this.enabled = () => true; // the page turns input off while another tab holds control
    this.onTarget = () => {};
    this._last = 0;
    this._timer = setInterval(() => this._tick(), Math.max(10, this.period / 4));
  }

  get hasHeight() { return this.layout.height !== null && this.layout.height !== undefined; }
  get hasGrasp() { return this.layout.grasp !== null && this.layout.grasp !== undefined; }

  add(adapter) {
    this.adapters.push(adapter);
    adapter.attach(this);
    return adapter;
  }

  clip(a) {
    return a.map((v, i) => Math.min(this.high[i], Math.max(this.low[i], v)));
  }

  /** Start from where the agent is (its state, when it reads as an action). */
  reset(action) {
    if (action && action.length === this.low.length) this.target = this.clip(action.slice());
    this.onTarget(this.target);
  }

  /** Height moves in proportion to the XY speed setting. */
  heightSpeed() { return this.layout.height_speed * this.speed / this.layout.xy_speed[1]; }

  nudge(dir, scale = 1) {
    const L = this.layout, t = this.target.slice(), [ix, iy] = L.xy, v = L.view;
    t[ix] += (dir.x || 0) * Math.sign(v[1] - v[0]) * this.speed * scale;
    t[iy] += (dir.y || 0) * Math.sign(v[2] - v[3]) * this.speed * scale;
    if (this.hasHeight) t[L.height] += (dir.z || 0) * this.heightSpeed() * scale;
    this.moveTo(t);
  }

  /** An action's XY as fractions of the frame's width and height. */
  toScreen(a) {
    const [ix, iy] = this.layout.xy, v = this.layout.view;
    return [(a[ix] - v[0]) / (v[1] - v[0]), (a[iy] - v[2]) / (v[3] - v[2])];
  }

  moveToScreen(fx, fy) {
    const [ix, iy] = this.layout.xy, v = this.layout.view, t = this.target.slice();
    t[ix] = v[0] + fx * (v[1] - v[0]);
    t[iy] = v[2] + fy * (v[3] - v[2]);
    this.moveTo(t);
  }

  moveTo(action) {
    this.target = this.clip(action);
    this.onTarget(this.target);
  }

  graspClosed(a = this.target) { return this.hasGrasp && a[this.layout.grasp] >= this.layout.grasp_closed; }

  /** Open a closed grasp or close an open one, and act on it at once. */
  toggleGrasp() {
    if (!this.hasGrasp) return;
    const g = this.layout.grasp, t = this.target.slice();
    t[g] = this.graspClosed() ? this.low[g] : this.high[g];
    this.moveTo(t);
    this.fire();
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

// WASD / arrows move XY by `speed` per step (Shift: three times as far); R / F or PageUp / PageDown
// raise / lower the height; G toggles the grasp. Height and grasp keys exist where the task has them.
const MOVE_KEYS = { KeyW: { y: 1 }, ArrowUp: { y: 1 }, KeyS: { y: -1 }, ArrowDown: { y: -1 },
                    KeyA: { x: -1 }, ArrowLeft: { x: -1 }, KeyD: { x: 1 }, ArrowRight: { x: 1 } };
const HEIGHT_KEYS = { KeyR: { z: 1 }, PageUp: { z: 1 }, KeyF: { z: -1 }, PageDown: { z: -1 } };
const GRASP_KEY = "KeyG";

class KeyboardAdapter {
  constructor() {
    this.name = "keyboard";
    this.held = new Set();
    this.fast = false;
  }

  attach(hub) {
    this.dirs = { ...MOVE_KEYS, ...(hub.hasHeight ? HEIGHT_KEYS : {}) };
    const typing = (e) => e.target && ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName) && e.target.type !== "button";
    window.addEventListener("keydown", (e) => {
      if (typing(e)) return;
      if (e.code === GRASP_KEY && hub.hasGrasp) {
        e.preventDefault();
        if (e.repeat) return;
        hub.command("engage");
        hub.toggleGrasp();
        return;
      }
      if (!(e.code in this.dirs)) return;
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

  /** Held keys -> {x, y, z}; XY has unit length (a diagonal is not faster). */
  dir() {
    const d = { x: 0, y: 0, z: 0 };
    for (const c of this.held) for (const k in this.dirs[c]) d[k] += this.dirs[c][k];
    const n = Math.hypot(d.x, d.y) || 1;
    return { x: d.x / n, y: d.y / n, z: Math.sign(d.z) };
  }

  step(hub) {
    if (this.held.size) hub.nudge(this.dir(), this.fast ? 3 : 1);
  }
}

// Press and drag on the frame: the XY target follows the pointer; height and grasp stay as they are.
class MouseAdapter {
  constructor(canvas) {
    this.name = "mouse";
    this.canvas = canvas;
  }

  moveTo(hub, e) {
    const r = this.canvas.getBoundingClientRect();
    hub.moveToScreen((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
  }

  attach(hub) {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      hub.command("engage");
      this.moveTo(hub, e);
      hub.setActive(this.name, true);
    });
    c.addEventListener("pointermove", (e) => { if (hub.active.has(this.name)) this.moveTo(hub, e); });
    const up = () => hub.setActive(this.name, false);
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
  }
}

// Browser Gamepad API (standard mapping): left stick moves XY (speed x deflection), right trigger raises
// and left trigger lowers the height, Y toggles the grasp; A takes over / hands back, B pauses / resumes,
// X branches.
class GamepadAdapter {
  constructor() {
    this.name = "gamepad";
    this.dead = 0.15;
    this.buttons = {};
    this.dir = { x: 0, y: 0, z: 0 };
  }

  attach(hub) {}

  poll(hub) {
    const pads = navigator.getGamepads ? navigator.getGamepads() : [];
    const pad = Array.from(pads || []).find((p) => p && p.connected);
    if (!pad) return;
    const live = (v) => (Math.abs(v || 0) < this.dead ? 0 : v);
    const trigger = (i) => (pad.buttons[i] ? pad.buttons[i].value : 0);
    this.dir = { x: live(pad.axes[0]), y: -live(pad.axes[1]), z: hub.hasHeight ? live(trigger(7) - trigger(6)) : 0 };
    const moving = this.dir.x !== 0 || this.dir.y !== 0 || this.dir.z !== 0;
    if (moving && !hub.active.has(this.name)) { hub.command("engage"); hub.nudge(this.dir); }
    hub.setActive(this.name, moving);
    const map = { 0: "toggle_control", 1: "toggle_pause", 2: "branch", 3: "grasp" };
    for (const [i, cmd] of Object.entries(map)) {
      const down = !!(pad.buttons[i] && pad.buttons[i].pressed);
      if (down && !this.buttons[i]) {
        if (cmd !== "grasp") hub.command(cmd);
        else if (hub.hasGrasp) { hub.command("engage"); hub.toggleGrasp(); }
      }
      this.buttons[i] = down;
    }
  }

  step(hub) {
    if (this.dir.x || this.dir.y || this.dir.z) hub.nudge(this.dir);
  }
}

window.HiwmInput = { InputHub, KeyboardAdapter, MouseAdapter, GamepadAdapter, MOVE_KEYS, HEIGHT_KEYS, GRASP_KEY };
