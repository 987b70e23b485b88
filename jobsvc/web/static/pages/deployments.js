// Deployments: one row per lane, live. The feed holds every lane's summary; only the
// page on screen (PAGE_SIZE rows) is in the DOM, and a change to a lane on it updates
// that row's cells in place, batched to one pass per animation frame.

import { post } from "../api.js";
import { actionButton } from "../actions.js";
import { h, laneHref, setText, statusBadge, table, taskHref } from "../dom.js";

export const PAGE_SIZE = 50;

export function mount(view, { feed }) {
  let page = 0;
  let filter = "";
  let shownOf = -1; // how many lanes the feed knew at the last full render
  const rows = new Map(); // lane name -> row on screen
  const dirty = new Set();
  let frame = 0;
  let rebuild = true;

  const body = h("tbody", { id: "deployments" });
  const count = h("span", { class: "count" });
  const prev = h("button", { type: "button", onclick: () => go(page - 1) }, "\u2039 prev");
  const next = h("button", { type: "button", onclick: () => go(page + 1) }, "next \u203a");
  const search = h("input", { type: "search", placeholder: "filter by name", "aria-label": "filter by name" });
  search.addEventListener("input", () => { filter = search.value.trim(); page = 0; schedule(true); });
  view.append(
    h("h1", {}, "Deployments"),
    h("div", { class: "toolbar" }, search, prev, count, next),
    table(["deployment", "active task", "status", "waiting", "last task", "paused", ""], body),
    h("p", { class: "hint" }, "Try: ", h("code", {}, `jobsvc submit demo echo --payload '{"lines": ["hello"]}' --wait`)),
  );

  function matching() {
    return filter ? feed.names.filter((name) => name.includes(filter)) : feed.names;
  }

  function go(to) {
    page = to;
    schedule(true);
  }

  function render() {
    const names = matching();
    const pages = Math.max(1, Math.ceil(names.length / PAGE_SIZE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const shown = names.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const kept = new Map();
    for (const name of shown) {
      const row = rows.get(name) || makeRow(name);
      fill(row, feed.summaries.get(name));
      kept.set(name, row);
    }
    rows.clear();
    for (const [name, row] of kept) rows.set(name, row);
    body.replaceChildren(...shown.map((name) => rows.get(name).tr));
    const first = names.length ? page * PAGE_SIZE + 1 : 0;
    setText(count, `${first}\u2013${page * PAGE_SIZE + shown.length} of ${names.length}`);
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    shownOf = feed.names.length;
  }

  function flush() {
    frame = 0;
    if (rebuild) render();
    else for (const name of dirty) { const row = rows.get(name); if (row) fill(row, feed.summaries.get(name)); }
    rebuild = false;
    dirty.clear();
  }

  function schedule(all = false) {
    rebuild = rebuild || all;
    if (!frame) frame = requestAnimationFrame(flush);
  }

  const stop = feed.listen((message) => {
    if (message.type === "snapshot") return schedule(true);
    const name = message.deployment.deployment;
    if (rows.has(name)) { dirty.add(name); schedule(); }
    else if (feed.names.length !== shownOf) schedule(true); // a new lane: it may belong on this page
  });
  schedule(true);
  return () => { stop(); cancelAnimationFrame(frame); };
}

function makeRow(name) {
  const cells = {
    name: h("td", { class: "c-name" }, h("a", { href: laneHref(name) }, name)),
    active: h("td", { class: "c-active" }),
    status: h("td", { class: "c-status" }),
    depth: h("td", { class: "c-depth num" }),
    last: h("td", { class: "c-last" }),
    paused: h("td", { class: "c-paused" }),
    actions: h("td", { class: "c-actions" }),
  };
  return { tr: h("tr", { "data-deployment": name }, Object.values(cells)), cells, shown: {} };
}

// Writes a summary into its row, touching only what changed.
function fill(row, s) {
  const { cells, shown } = row;
  if (shown.active !== s.activeTaskId) {
    cells.active.replaceChildren(s.activeTaskId ? h("a", { href: taskHref(s.activeTaskId), class: "id" }, s.activeTaskId) : "idle");
  }
  if (shown.status !== s.activeTaskStatus) cells.status.replaceChildren(s.activeTaskStatus ? statusBadge(s.activeTaskStatus) : "");
  setText(cells.depth, s.queueDepth);
  const last = s.lastTask;
  const lastKey = last ? `${last.id} ${last.status}` : "";
  if (shown.last !== lastKey) {
    cells.last.replaceChildren(last ? h("a", { href: taskHref(last.id) }, `${last.type} `, statusBadge(last.status)) : "");
  }
  if (shown.paused !== s.paused) {
    setText(cells.paused, s.paused ? "paused" : "");
    row.tr.classList.toggle("is-paused", s.paused);
    const lane = encodeURIComponent(s.deployment);
    cells.actions.replaceChildren(
      s.paused
        ? actionButton("Resume", () => post(`/deployments/${lane}/resume`)) || ""
        : actionButton("Pause", () => post(`/deployments/${lane}/pause`)) || "",
    );
  }
  Object.assign(shown, { active: s.activeTaskId, status: s.activeTaskStatus, last: lastKey, paused: s.paused });
}
