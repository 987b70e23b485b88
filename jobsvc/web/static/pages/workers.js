// Workers by pool: each one's state, the task it runs and its last heartbeat, with the
// task counts by status; read from /stats every POLL_MS.

import { api } from "../api.js";
import { notify } from "../actions.js";
import { ago, h, section, statusBadge, table, taskHref } from "../dom.js";

const POLL_MS = 2000;
// A worker listens on `<priority>-<pool>` queues (and `maintenance`).
const POOL_QUEUE = /^(?:critical|high|medium|low)-(.+)$/;

export function mount(view) {
  const counts = h("div", { id: "counts" });
  const pools = h("div", { id: "pools" });
  view.append(h("h1", {}, "Workers"), counts, pools);
  let gone = false;

  async function load() {
    try {
      const stats = await api("/stats");
      if (gone) return;
      counts.replaceChildren(
        h("p", {}, Object.entries(stats.byStatus).flatMap(([s, n]) => [statusBadge(s), ` ${n}  `]),
          stats.draining ? h("strong", { class: "paused" }, " draining") : ""),
      );
      pools.replaceChildren(...byPool(stats.workers));
    } catch (error) {
      notify(`Could not read the workers: ${error.message}`);
    }
  }

  load();
  const timer = setInterval(load, POLL_MS);
  return () => { gone = true; clearInterval(timer); };
}

function poolOf(worker) {
  for (const queue of worker.queues || []) {
    const match = POOL_QUEUE.exec(queue);
    if (match) return match[1];
  }
  return "?";
}

function byPool(workers) {
  if (!workers.length) return [h("p", { class: "empty" }, "No worker is registered.")];
  const pools = new Map();
  for (const w of [...workers].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const pool = poolOf(w);
    if (!pools.has(pool)) pools.set(pool, []);
    pools.get(pool).push(w);
  }
  return [...pools].sort().map(([pool, list]) => section(
    `Pool ${pool} (${list.filter((w) => w.state === "busy").length} busy of ${list.length})`,
    table(["worker", "state", "current task", "last heartbeat"], h("tbody", {}, list.map((w) => h(
      "tr",
      { "data-worker": w.name },
      h("td", {}, w.name),
      h("td", {}, h("span", { class: `state ${w.state}` }, w.state)),
      h("td", {}, w.currentJobId ? h("a", { href: taskHref(w.currentJobId), class: "id" }, w.currentJobId) : ""),
      h("td", { title: w.lastHeartbeat || "" }, ago(w.lastHeartbeat)),
    )))),
  ));
}
