// Recent tasks, newest first, filtered by deployment, type and status (the filters
// live in the URL's hash, so a view can be linked). The first page is read again
// when lanes change; "more" continues from the listing's cursor.

import { api } from "../api.js";
import { notify } from "../actions.js";
import { h, laneHref, statusBadge, table, taskHref, when } from "../dom.js";

const STATUSES = ["", "failed", "completed", "canceled", "skipped", "running", "queued"];
const LIMIT = 50;
// The first page is read again at most once per this many ms while lanes change.
const RELOAD_MS = 1000;

export function mount(view, { params, feed }) {
  const inputs = {
    deployment: h("input", { type: "search", name: "deployment", placeholder: "deployment", value: params.get("deployment") || "" }),
    type: h("input", { type: "search", name: "type", placeholder: "type", value: params.get("type") || "" }),
    status: h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s }, s || "any status"))),
  };
  inputs.status.value = params.get("status") || "";
  const body = h("tbody", { id: "tasks" });
  const more = h("button", { type: "button", hidden: true }, "more");
  view.append(
    h("h1", {}, "Tasks"),
    h("div", { class: "toolbar filters" }, inputs.deployment, inputs.type, inputs.status,
      ...["failed", "completed"].map((s) => h("button", { type: "button", onclick: () => { inputs.status.value = s; apply(); } }, s))),
    table(["task", "deployment", "type", "status", "created", "ended", "retries", "error"], body),
    more,
  );

  let cursor = null;
  let paged = false; // "more" was used: live reloads would drop what it added
  let timer = 0;
  let gone = false;

  function query(from) {
    const q = new URLSearchParams({ limit: LIMIT });
    for (const [key, input] of Object.entries(inputs)) if (input.value.trim()) q.set(key, input.value.trim());
    if (from) q.set("cursor", from);
    return q;
  }

  async function load(from = null) {
    timer = 0;
    try {
      const page = await api(`/tasks?${query(from)}`);
      if (gone) return;
      const rows = page.tasks.map(row);
      paged = Boolean(from);
      if (from) body.append(...rows);
      else body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, "no tasks"))]));
      cursor = page.nextCursor;
      more.hidden = !cursor;
    } catch (error) {
      notify(`Could not list tasks: ${error.message}`);
    }
  }

  function apply() {
    const q = query(null);
    q.delete("limit");
    history.replaceState(null, "", `#/tasks${q.size ? `?${q}` : ""}`);
    load();
  }

  for (const input of Object.values(inputs)) input.addEventListener("change", apply);
  more.addEventListener("click", () => load(cursor));
  const stop = feed.listen(() => { if (!timer && !paged) timer = setTimeout(load, RELOAD_MS); });
  load();
  return () => { gone = true; stop(); clearTimeout(timer); };
}

function row(t) {
  return h(
    "tr",
    { "data-task": t.id },
    h("td", {}, h("a", { href: taskHref(t.id), class: "id" }, t.id)),
    h("td", {}, h("a", { href: laneHref(t.deployment) }, t.deployment)),
    h("td", {}, t.type),
    h("td", {}, statusBadge(t.status)),
    h("td", {}, when(t.createdAt)),
    h("td", {}, when(t.completedAt)),
    h("td", { class: "num" }, t.retryCount),
    h("td", { class: "clip" }, t.error ? `${t.error.reason}: ${t.error.message || ""}` : ""),
  );
}
