// Live data over WebSockets: the dashboard feed (every lane's summary) and a task's events.

import { openSocket } from "./api.js";

// Seconds to wait before reconnecting after an unexpected close: doubles up to the last.
const BACKOFF_S = [0.25, 0.5, 1, 2, 4];

// Every deployment's summary S, kept current by /ws/dashboard: a snapshot first, then
// one message per lane change. The page holds all of them (a few hundred bytes each)
// and renders only what is on screen; listeners hear each change.
export class Feed {
  constructor(onState) {
    this.summaries = new Map();
    this.names = []; // sorted
    this.listeners = new Set();
    this.onState = onState;
    this.failures = 0;
  }

  start() {
    const ws = openSocket("/ws/dashboard");
    ws.onopen = () => { this.failures = 0; this.onState("live"); };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = () => {
      this.onState("reconnecting...");
      const delay = BACKOFF_S[Math.min(this.failures++, BACKOFF_S.length - 1)];
      setTimeout(() => this.start(), delay * 1000);
    };
  }

  receive(message) {
    if (message.type === "snapshot") {
      this.summaries = new Map(message.deployments.map((s) => [s.deployment, s]));
      this.names = [...this.summaries.keys()].sort(byName);
    } else if (message.type === "deployment") {
      const s = message.deployment;
      if (!this.summaries.has(s.deployment)) this.names.splice(insertAt(this.names, s.deployment), 0, s.deployment);
      this.summaries.set(s.deployment, s);
    }
    for (const listener of this.listeners) listener(message);
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function insertAt(sorted, name) {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < name) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Is stream id a ("<ms>-<seq>") after b? Compared as numbers: both parts can pass 2^53.
export function after(a, b) {
  if (!b) return true;
  const [am, as = "0"] = a.split("-"), [bm, bs = "0"] = b.split("-");
  return BigInt(am) > BigInt(bm) || (am === bm && BigInt(as) > BigInt(bs));
}

// A task's events over /ws/tasks/<id>, resumed after the last one received on every
// reconnect (?since=<id>), so no event is missed or shown twice. Close codes: 1000 the
// task ended; 4404 unknown task; 1008 a bad resume point; 4429 (too slow) or any other
// close: reconnect and resume.
export class TaskStream {
  constructor(taskId, { onEvent, onState, onEnd }) {
    Object.assign(this, { taskId, onEvent, onState, onEnd });
    this.last = null;
    this.failures = 0;
    this.stopped = false;
  }

  start() {
    const since = this.last ? `?since=${encodeURIComponent(this.last)}` : "";
    const ws = (this.ws = openSocket(`/ws/tasks/${encodeURIComponent(this.taskId)}${since}`));
    ws.onopen = () => { this.failures = 0; this.onState("live"); };
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.id && !after(event.id, this.last)) return; // already shown
      if (event.id) this.last = event.id;
      this.onEvent(event);
    };
    ws.onclose = (close) => this.closed(close.code);
  }

  closed(code) {
    if (this.stopped) return;
    if (code === 1000) { this.onState("ended"); this.onEnd(); return; }
    if (code === 4404) { this.onState("unknown task"); return; }
    if (code === 1008) { this.onState("refused: bad resume point"); return; }
    this.onState("reconnecting...");
    const delay = code === 4429 ? 0 : BACKOFF_S[Math.min(this.failures++, BACKOFF_S.length - 1)];
    this.timer = setTimeout(() => this.start(), delay * 1000);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }
}
