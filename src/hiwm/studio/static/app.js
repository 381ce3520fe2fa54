// Hi-WM Studio page: shows the session the server streams and sends it one event per user action.
// Everything the page does is a message in protocol.py; the server decides what is allowed.
// Every string from the server (outcomes, paths, names: a session log can be crafted) goes in as text,
// through el() / svg() / textContent; the page never parses server data as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

/** An element with attributes and children; strings become text nodes, never markup. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...children.map((c) => (c instanceof Node ? c : String(c))));
  return e;
}

/** An SVG element with attributes. */
function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
const S = {
  ws: null, seq: 0, client: null, controller: null, spec: null, nodes: new Map(), branches: [],
  state: null, version: -1, viewLeaf: 0, frames: 0, fpsCount: 0, img: new Image(), frameNode: 0,
  pending: new Map(),
};
window.hiwm = S; // for the browser test and the console

// ------------------------------------------------------------------ connection ----
function connect() {
  const token = new URLSearchParams(location.search).get("token");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? "?token=" + encodeURIComponent(token) : ""}`;
  const ws = new WebSocket(url);
  S.ws = ws;
  ws.onopen = () => setConn(true);
  ws.onclose = () => { setConn(false); setTimeout(connect, 1000); };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
}

function setConn(on) {
  $("conn").textContent = on ? "connected" : "reconnecting";
  $("conn").className = "pill " + (on ? "on" : "off");
}

function send(type, fields = {}) {
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return;
  const seq = ++S.seq;
  S.pending.set(seq, { type, t: performance.now() });
  S.ws.send(JSON.stringify({ type, seq, ...fields }));
  return seq;
}

function onMessage(m) {
  if (m.type === "hello") {
    S.client = m.client;
    S.spec = m.spec;
    S.nodes.clear();
    for (const n of m.nodes) S.nodes.set(n.id, n);
    S.version = -1;
    setupSpec(m);
    onUpdate(m);
    showQueue(m.queue);
    $("post-train").textContent = m.post_train;
  } else if (m.type === "update") {
    onUpdate(m);
  } else if (m.type === "control") {
    S.controller = m.controller;
    showControl();
  } else if (m.type === "queue") {
    showQueue(m.queue);
  } else if (m.type === "exported") {
    showExport(m);
  } else if (m.type === "ack") {
    S.pending.delete(m.seq);
    if (m.op === "act") $("saved").textContent = `saved: ${m.saved} steps on disk`;
  } else if (m.type === "error") {
    S.pending.delete(m.seq);
    note(m.message, true);
  }
}

// ------------------------------------------------------------------ state ----
function setupSpec(m) {
  $("task").textContent = `${m.spec.task}: ${m.spec.description} (world model ${m.models.wm_checkpoint})`;
  $("max-steps").textContent = m.spec.max_steps;
  $("builtin").hidden = !m.models.builtin;
  $("builtin-task").textContent = m.spec.task;
  if (!S.hub) {
    const layout = m.spec.controls;
    S.hub = new HiwmInput.InputHub({ low: m.spec.action_low, high: m.spec.action_high, fps: m.spec.fps, layout,
                                     send: (a) => act(a), command: (c) => command(c) });
    S.hub.add(new HiwmInput.KeyboardAdapter());
    S.hub.add(new HiwmInput.MouseAdapter($("frame")));
    S.hub.add(new HiwmInput.GamepadAdapter());
    S.hub.enabled = () => inControl();
    S.hub.onTarget = () => draw();
    const [lo, def, hi] = layout.xy_speed, sp = $("speed");
    Object.assign(sp, { min: lo, max: hi, step: lo });
    sp.value = def;
    S.speedDecimals = Math.max(0, -Math.floor(Math.log10(lo)));
    setSpeed(0);
    $("keys").replaceChildren(...keyHelp(S.hub));
  }
}

/** The help line for this task's action layout (height and grasp keys only where the task has them), as
 * nodes: key names in bold, the layout's names and units as text. */
function keyHelp(hub) {
  const L = hub.layout, u = (i) => (L.units[i] ? ` (${L.units[i]})` : ""), b = (k) => el("b", {}, k);
  const out = ["Keys: ", b("WASD"), "/", b("arrows"), ` move ${L.names[L.xy[0]]}/${L.names[L.xy[1]]}${u(L.xy[0])} (takes over)`];
  if (hub.hasHeight) out.push(", ", b("R"), "/", b("F"), " or ", b("PgUp"), "/", b("PgDn"), ` ${L.names[L.height]} up/down${u(L.height)}`);
  if (hub.hasGrasp) out.push(", ", b("G"), ` ${L.names[L.grasp]} open/close`);
  const pad = `left stick${hub.hasHeight ? ", RT/LT up/down" : ""}${hub.hasGrasp ? ", Y grasp" : ""}`;
  out.push(", ", b("Shift"), " faster, ", b("[ ]"), " speed, ", b("Space"), " pause/resume, ", b("."), " step, ",
           b("T"), " take over, ", b("H"), " hand back, ", b("B"), " branch, ", b("E"), " end, ", b("K"), "/", b("X"),
           ` keep/discard this branch. Mouse: drag on the frame. Gamepad: ${pad}, A take over/hand back, B pause, X branch.`);
  return out;
}

function inControl() { return S.controller === null || S.controller === S.client; }

function onUpdate(m) {
  for (const n of m.nodes || []) S.nodes.set(n.id, n); // nodes never change: merging is always safe
  const st = m.state;
  if (!st || st.version <= S.version) return; // a late update: a newer one is already shown
  if (m.branches) S.branches = m.branches;
  S.version = st.version;
  S.state = st;
  S.controller = st.controller;
  if (!isOnPath(st.cursor, S.viewLeaf)) {
    const b = S.branches.find((b) => b.id === st.branch);
    S.viewLeaf = b ? b.leaf : st.cursor;
  }
  // The target follows the agent until the person acts: an update sent before the take-over (a policy step
  // under way) may arrive after the first corrective steps were sent, and must not pull the target back.
  if (st.phase !== "correcting" && !(S.hub && S.hub.active.size)) followAgent(st);
  if (m.frame) {
    S.frames++;
    S.fpsCount++;
    S.frameNode = st.cursor;
    S.img.src = "data:image/png;base64," + m.frame;
    document.body.dataset.frames = S.frames;
  }
  showState();
  showTimeline();
  showTree();
  showControl();
}

function followAgent(st) {
  const n = S.nodes.get(st.cursor);
  if (n && S.hub) S.hub.reset(S.hub.layout.agent_is_action ? n.x : n.a);
}

function pathTo(id) {
  const out = [];
  let n = S.nodes.get(id);
  while (n) { out.push(n); n = S.nodes.get(n.p); }
  return out.reverse();
}

function isOnPath(id, leaf) {
  let n = S.nodes.get(leaf);
  while (n) { if (n.id === id) return true; n = S.nodes.get(n.p); }
  return false;
}

// ------------------------------------------------------------------ actions ----
function act(a) {
  if (!S.state || !inControl()) return;
  if (S.state.phase !== "correcting" && performance.now() - (S.engagedAt || 0) > 500) command("engage");
  send("act", { action: a });
}

function command(c) {
  if (!S.state) return;
  const ph = S.state.phase;
  if (c === "engage") {
    if (ph !== "correcting" && performance.now() - (S.engagedAt || 0) > 500) {
      S.engagedAt = performance.now();
      followAgent(S.state);
      send("take_over");
    }
  }
  else if (c === "toggle_control") send(ph === "correcting" ? "hand_back" : "take_over");
  else if (c === "toggle_pause") send(ph === "autonomous" || ph === "correcting" ? "pause" : "resume");
  else send(c);
}

function markCurrent(keep) {
  if (S.state) send("mark", { branch: S.state.branch, keep });
}

function note(text, error = false) {
  const li = document.createElement("li");
  li.textContent = text;
  if (error) li.className = "error";
  $("messages").prepend(li);
  while ($("messages").children.length > 8) $("messages").lastChild.remove();
}

// ------------------------------------------------------------------ drawing ----
S.img.onload = () => draw();

function toCanvas(a) {
  const [fx, fy] = S.hub.toScreen(a), c = $("frame");
  return [fx * c.width, fy * c.height];
}

/** "x 0.012 m · height 0.080 m · grasp closed": the target, in the task's names and units. */
function describe(a) {
  const L = S.hub.layout, dec = S.speedDecimals + 1;
  return a.map((v, i) => (i === L.grasp ? `${L.names[i]} ${S.hub.graspClosed(a) ? "closed" : "open"}`
    : `${L.names[i]} ${v.toFixed(dec)}${L.units[i] ? " " + L.units[i] : ""}`)).join(" · ");
}

function draw() {
  const c = $("frame"), ctx = c.getContext("2d");
  if (S.img.complete && S.img.naturalWidth) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(S.img, 0, 0, c.width, c.height);
  }
  if (!S.spec || !S.hub || !S.state) return;
  $("target").textContent = (S.state.phase === "correcting" ? "target: " : "agent: ") + describe(S.hub.target);
  const n = S.nodes.get(S.frameNode);
  if (n && n.a) { // the action that led here: a small ring
    const [x, y] = toCanvas(n.a);
    ctx.strokeStyle = n.i ? "#d9480f" : "#3056d3";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
  }
  if (S.state.phase === "correcting") { // the operator's target: a cross, a ring as high as the target, a dot if closed
    const [x, y] = toCanvas(S.hub.target), t = S.hub.target, L = S.hub.layout;
    ctx.strokeStyle = ctx.fillStyle = "#d9480f";
    ctx.lineWidth = 3;
    ctx.beginPath(); ctx.moveTo(x - 10, y); ctx.lineTo(x + 10, y); ctx.moveTo(x, y - 10); ctx.lineTo(x, y + 10); ctx.stroke();
    if (S.hub.hasHeight) {
      const h = (t[L.height] - S.spec.action_low[L.height]) / (S.spec.action_high[L.height] - S.spec.action_low[L.height]);
      ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.arc(x, y, 8 + 24 * h, 0, 2 * Math.PI); ctx.stroke();
    }
    if (S.hub.graspClosed()) { ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill(); }
  }
}

function showState() {
  const st = S.state;
  const acting = $("acting");
  acting.textContent = st.acting === "person" ? "person" : st.acting;
  acting.className = "acting " + st.acting;
  $("phase").textContent = st.phase;
  $("depth").textContent = st.depth;
  $("progress").textContent = st.progress.toFixed(2);
  $("progress-bar").style.width = `${Math.min(100, 100 * st.progress)}%`;
  $("trust").textContent = st.trust.toFixed(2);
  $("trust-bar").style.width = `${100 * st.trust}%`;
  $("trust-bar").className = st.warn ? "low" : "";
  $("warn").hidden = !st.warn;
  $("pause").textContent = st.phase === "autonomous" || st.phase === "correcting" ? "Pause" : "Resume";
  const allowed = new Set(st.events);
  const mine = inControl();
  $("pause").disabled = !mine || !(allowed.has("pause") || allowed.has("resume")) || st.phase === "paused" && !allowed.has("resume");
  $("step").disabled = !mine || !(st.phase === "paused" || st.phase === "autonomous");
  $("take-over").disabled = !mine || !allowed.has("take_over");
  $("hand-back").disabled = !mine || !allowed.has("hand_back");
  $("branch").disabled = !mine || !allowed.has("branch");
  $("end").disabled = !mine || !allowed.has("end");
  $("rate").value = st.rate;
  $("rate-v").textContent = Math.round(st.rate);
  if (!$("saved").textContent) $("saved").textContent = `saved: ${st.saved} steps on disk`;
  draw();
}

function showControl() {
  const mine = S.controller === S.client;
  $("control").textContent = mine ? "you are in control" : S.controller === null ? "nobody in control" : `watching (tab ${S.controller} in control)`;
  $("claim").hidden = mine || S.controller !== null;
  $("release").hidden = !mine;
}

function showTimeline() {
  const path = pathTo(S.viewLeaf);
  const sc = $("scrubber");
  sc.max = Math.max(0, path.length - 1);
  const cur = S.nodes.get(S.state.cursor);
  if (!S.scrubbing) sc.value = cur ? cur.d : 0;
  $("scrub-label").textContent = `step ${cur ? cur.d : 0} of ${path.length - 1} (node ${S.state.cursor}, branch ${S.state.branch})`;
  S.timeline = path;
}

const OUTCOME_COLOR = { success: "#16803c", failure: "#b42318", unjudged: "#8a93a3" };

function showTree() {
  const tree = $("tree"), tbody = document.querySelector("#branches tbody");
  const maxD = Math.max(1, ...S.branches.map((b) => (S.nodes.get(b.leaf) || { d: 0 }).d));
  const W = tree.clientWidth || 420, rowH = 14, x = (d) => 24 + (d / maxD) * (W - 34);
  tree.setAttribute("height", S.branches.length * rowH + 10);
  const g = [], rows = [];
  for (const [row, b] of S.branches.entries()) {
    const root = S.nodes.get(b.root_node) || { d: 0, b: 0 }, leaf = S.nodes.get(b.leaf) || root;
    const y = 8 + row * rowH;
    const parentRow = S.branches.findIndex((o) => o.id === root.b);
    if (b.id !== 0 && parentRow >= 0) g.push(svg("line", { x1: x(root.d), y1: 8 + parentRow * rowH, x2: x(root.d), y2: y, stroke: "#c5cad3" }));
    const line = svg("line", { x1: x(root.d), y1: y, x2: x(Math.max(leaf.d, root.d + 0.2)), y2: y,
                               stroke: OUTCOME_COLOR[b.outcome] || OUTCOME_COLOR.unjudged, "stroke-width": b.keep === true ? 5 : 2 });
    line.dataset.branch = b.id;
    if (b.keep === false) { line.setAttribute("stroke-dasharray", "3 3"); line.setAttribute("opacity", "0.5"); }
    const label = svg("text", { x: 2, y: y + 3 });
    label.textContent = b.id;
    g.push(line, label);
    const own = pathTo(b.leaf).filter((n) => n.b === b.id);
    for (const n of own) if (n.i) g.push(svg("rect", { x: x(n.d) - 1, y: y - 4, width: 2, height: 8, fill: "#d9480f" }));
    const fixes = own.filter((n) => n.i).length;
    const decision = b.keep === true ? "kept" : b.keep === false ? "discarded" : "—";
    const button = (what, text) => { const e = el("button", { class: "small" }, text); e.dataset[what] = b.id; return e; };
    const outcome = el("td", {}, b.outcome);
    if (OUTCOME_COLOR[b.outcome]) outcome.className = b.outcome;
    const tr = el("tr", {}, el("td", {}, b.id), el("td", {}, root.d), el("td", {}, own.length), el("td", {}, fixes),
                  outcome, el("td", {}, decision),
                  el("td", {}, button("go", "go"), " ", button("keep", "keep"), " ", button("discard", "discard"), " ",
                     button("success", "✓"), " ", button("failure", "✗")));
    if (b.id === S.state.branch) tr.className = "current";
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  const cur = S.nodes.get(S.state.cursor);
  const curRow = S.branches.findIndex((o) => o.id === S.state.branch);
  if (cur && curRow >= 0) g.push(svg("circle", { cx: x(cur.d), cy: 8 + curRow * rowH, r: 4, fill: "#1d2330" }));
  tree.replaceChildren(...g);
}

const REASONS = { stall: "progress stalls", risk: "failure-prone scene", uncertain: "model uncertain", disagree: "policy's samples disagree" };

function showQueue(queue) {
  const ol = $("queue");
  ol.textContent = "";
  if (!queue || !queue.length) { ol.append(el("li", { class: "muted" }, "nothing flagged yet (scan after a branch ends)")); return; }
  for (const q of queue) {
    const li = document.createElement("li");
    const what = REASONS[q.reason] || String(q.reason);
    li.textContent = `${what} — step ${q.depth}, branch ${q.branch} (${q.value})`;
    li.dataset.node = q.node;
    li.onclick = () => send("roll_back", { node: q.node });
    ol.appendChild(li);
  }
}

function showExport(m) {
  const lines = m.records.map((r) => `episode ${r.episode}: branch ${r.branch}, ${r.frames} frames, ${r.interventions} corrective`);
  $("export-status").textContent = m.records.length ? `exported to ${m.dataset}: ${lines.join("; ")}` : "nothing new to export";
  $("export-status").dataset.episodes = m.records.length;
  $("post-train").textContent = m.post_train;
  note(`exported ${m.records.length} branch(es)`);
}

// ------------------------------------------------------------------ wiring ----
function wire() {
  const click = { pause: () => command("toggle_pause"), step: () => send("step"), "take-over": () => command("engage"),
                  "hand-back": () => send("hand_back"), branch: () => send("branch"), end: () => send("end"),
                  export: () => send("export"), scan: () => send("scan"), claim: () => send("claim"),
                  release: () => send("release") };
  for (const [id, fn] of Object.entries(click)) $(id).addEventListener("click", fn);
  $("speed").addEventListener("input", () => setSpeed(0));
  $("rate").addEventListener("change", (e) => send("rate", { hz: +e.target.value }));
  const sc = $("scrubber");
  let last = 0;
  const scrub = (force) => {
    const n = S.timeline && S.timeline[+sc.value];
    if (!n || (!force && performance.now() - last < 120)) return;
    last = performance.now();
    if (!S.state || n.id !== S.state.cursor) send("roll_back", { node: n.id });
  };
  sc.addEventListener("input", () => { S.scrubbing = true; scrub(false); });
  sc.addEventListener("change", () => { S.scrubbing = false; scrub(true); });
  document.querySelector("#branches").addEventListener("click", (e) => {
    const d = e.target.dataset;
    if (d.go) send("roll_back", { node: S.branches.find((b) => b.id === +d.go).leaf });
    if (d.keep) send("mark", { branch: +d.keep, keep: true });
    if (d.discard) send("mark", { branch: +d.discard, keep: false });
    if (d.success) send("mark", { branch: +d.success, outcome: "success" });
    if (d.failure) send("mark", { branch: +d.failure, outcome: "failure" });
  });
  $("tree").addEventListener("click", (e) => {
    const b = e.target.dataset && e.target.dataset.branch;
    if (b !== undefined) send("roll_back", { node: S.branches.find((o) => o.id === +b).leaf });
  });
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "button" && e.target.type !== "range") return;
    if (e.target.type === "range" && e.code.startsWith("Arrow")) return;
    const keys = { Space: () => command("toggle_pause"), Period: () => send("step"), KeyT: () => command("engage"),
                   KeyH: () => send("hand_back"), KeyB: () => send("branch"), KeyE: () => send("end"),
                   KeyK: () => markCurrent(true), KeyX: () => markCurrent(false),
                   BracketLeft: () => setSpeed(-1), BracketRight: () => setSpeed(1) };
    if (keys[e.code] && !e.repeat) { e.preventDefault(); keys[e.code](); }
  });
  setInterval(() => { $("fps").textContent = S.fpsCount; S.fpsCount = 0; }, 1000);
}

/** Move the speed slider by ``d`` of its steps and show the speed in the task's XY units. */
function setSpeed(d) {
  const sp = $("speed"), L = S.hub.layout;
  const v = Math.min(+sp.max, Math.max(+sp.min, +sp.value + d * +sp.step));
  sp.value = v;
  S.hub.speed = +sp.value;
  $("speed-v").textContent = `${S.hub.speed.toFixed(S.speedDecimals)} ${L.units[L.xy[0]]}/step`;
}

wire();
connect();
