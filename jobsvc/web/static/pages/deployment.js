// One deployment: its lane's queue in order with positions (cancel or skip each task),
// pause/resume, and its recent tasks. Read again whenever the feed says the lane changed.

import { api, post } from "../api.js";
import { actionButton, notify } from "../actions.js";
import { h, section, statusBadge, table, taskHref, when } from "../dom.js";

// Tasks of the lane's recent history shown; the queue shows up to QUEUE_LIMIT.
const HISTORY = 25;
const QUEUE_LIMIT = 200;
// At most one reload per this many ms, however fast the lane changes.
const RELOAD_MS = 300;

export function mount(view, { name, feed }) {
  const lane = encodeURIComponent(name);
  const head = h("div", { class: "lane-head" });
  const queue = h("tbody", { id: "queue" });
  const history = h("tbody", { id: "history" });
  view.append(
    h("h1", {}, "Deployment ", h("span", { class: "id" }, name)),
    head,
    section("Queue", table(["position", "task", "type", "status", "priority", "created", ""], queue)),
    section("Recent tasks", table(["task", "type", "status", "created", "ended", "retries"], history)),
  );

  let timer = 0;
  let gone = false;
  async function load() {
    timer = 0;
    try {
      const [lane_, recent] = await Promise.all([
        api(`/deployments/${lane}?queueLimit=${QUEUE_LIMIT}`),
        api(`/tasks?deployment=${lane}&limit=${HISTORY}`),
      ]);
      if (gone) return;
      showHead(head, lane_);
      queue.replaceChildren(...lane_.queue.map((t) => queueRow(t)));
      if (!lane_.queue.length) queue.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "nothing queued")));
      history.replaceChildren(...recent.tasks.map(historyRow));
    } catch (error) {
      notify(`Could not read ${name}: ${error.message}`);
    }
  }
  function reload() {
    if (!timer) timer = setTimeout(load, RELOAD_MS);
  }

  const stop = feed.listen((m) => { if (m.type === "snapshot" || m.deployment.deployment === name) reload(); });
  load();
  return () => { gone = true; stop(); clearTimeout(timer); };
}

function showHead(head, s) {
  const path = `/deployments/${encodeURIComponent(s.deployment)}`;
  head.replaceChildren(
    h("span", { class: s.paused ? "paused" : "running-lane" }, s.paused ? "paused" : "running"),
    ` \u00b7 ${s.queueDepth} waiting behind the active task \u00b7 `,
    s.paused ? actionButton("Resume", () => post(`${path}/resume`)) : actionButton("Pause", () => post(`${path}/pause`)),
  );
}

function queueRow(t) {
  const id = encodeURIComponent(t.id);
  const canSkip = t.status === "queued" && t.position > 0;
  return h(
    "tr",
    { "data-task": t.id },
    h("td", { class: "num" }, t.position),
    h("td", {}, h("a", { href: taskHref(t.id), class: "id" }, t.id)),
    h("td", {}, t.type),
    h("td", {}, statusBadge(t.status), t.retryCount ? ` (retry ${t.retryCount})` : ""),
    h("td", {}, t.priority),
    h("td", {}, when(t.createdAt)),
    h(
      "td",
      { class: "c-actions" },
      actionButton("Cancel", () => post(`/tasks/${id}/cancel`)),
      canSkip ? actionButton("Skip", () => post(`/tasks/${id}/skip`)) : null,
    ),
  );
}

function historyRow(t) {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: taskHref(t.id), class: "id" }, t.id)),
    h("td", {}, t.type),
    h("td", {}, statusBadge(t.status)),
    h("td", {}, when(t.createdAt)),
    h("td", {}, when(t.completedAt)),
    h("td", { class: "num" }, t.retryCount),
  );
}
