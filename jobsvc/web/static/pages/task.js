// One task: its fields, steps, history (attempt by attempt), error and traceback, and
// its output, live over /ws/tasks/<id> (resumed after the last event on a reconnect).
// An ended task's output is read whole from /tasks/<id>/log instead.

import { api, post } from "../api.js";
import { actionButton, notify } from "../actions.js";
import { h, jsonBlock, laneHref, section, statusBadge, table, taskHref, when } from "../dom.js";
import { TaskStream } from "../live.js";

const ENDED = new Set(["completed", "failed", "canceled", "skipped"]);
// At most one re-read of the task per this many ms while its events stream.
const RELOAD_MS = 250;

export function mount(view, { id }) {
  const path = `/tasks/${encodeURIComponent(id)}`;
  const parts = {
    actions: h("div", { class: "actions" }),
    fields: h("div", { id: "fields" }),
    steps: h("div", { id: "steps" }),
    history: h("div", { id: "task-history" }),
    error: h("div", { id: "error" }),
  };
  const live = h("span", { id: "live", class: "conn" }, "");
  const progress = h("div", { id: "progress" });
  const output = h("pre", { id: "output", class: "output" });
  view.append(
    h("h1", {}, "Task ", h("span", { class: "id" }, id)),
    parts.actions,
    parts.fields,
    progress,
    section("Output ", live),
    output,
    parts.error,
    parts.steps,
    parts.history,
  );

  let stream = null;
  let timer = 0;
  let gone = false;

  async function load() {
    timer = 0;
    try {
      const { task } = await api(path);
      if (gone) return null;
      show(parts, task, path);
      return task;
    } catch (error) {
      notify(error.status === 404 ? `There is no task ${id}.` : `Could not read the task: ${error.message}`);
      return null;
    }
  }
  const reload = () => { if (!timer) timer = setTimeout(load, RELOAD_MS); };

  function onEvent(event) {
    if (event.type === "log") appendLine(output, event.data.line);
    else if (event.type === "progress") showProgress(progress, event.data);
    else reload(); // status and step events change the fields
  }

  load().then(async (task) => {
    if (!task || gone) return;
    if (task.progress) showProgress(progress, task.progress);
    if (ENDED.has(task.status)) {
      live.textContent = "ended";
      const text = await api(`${path}/log`);
      for (const line of text.split("\n").slice(0, text.endsWith("\n") ? -1 : undefined)) appendLine(output, line);
      return;
    }
    stream = new TaskStream(id, { onEvent, onState: (s) => { live.textContent = s; }, onEnd: load });
    stream.start();
  });
  return () => { gone = true; clearTimeout(timer); if (stream) stream.stop(); };
}

function appendLine(output, line) {
  const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
  output.append(h("div", { class: "line" }, line));
  if (stick) output.scrollTop = output.scrollHeight;
}

function showProgress(el, p) {
  el.replaceChildren(h("progress", { max: 100, value: p.percent ?? 0 }), ` ${p.percent ?? 0}% ${p.message || ""}`);
}

function show(parts, t, path) {
  parts.actions.replaceChildren(
    ...[
      t.status === "queued" || t.status === "running" ? actionButton("Cancel", () => post(`${path}/cancel`)) : null,
      t.status === "queued" && t.position > 0 ? actionButton("Skip", () => post(`${path}/skip`)) : null,
      t.status === "failed" || t.status === "canceled" ? actionButton("Retry", () => post(`${path}/retry`)) : null,
    ].filter(Boolean),
  );
  parts.fields.replaceChildren(fieldList(t));
  parts.steps.replaceChildren(t.steps?.length ? section("Steps", stepTable(t.steps)) : "");
  parts.history.replaceChildren(section("History", historyTable(t.history)));
  parts.error.replaceChildren(t.error ? section("Error", errorBlock(t.error)) : "");
}

function fieldList(t) {
  const rows = [
    ["status", statusBadge(t.status)],
    ["deployment", h("a", { href: laneHref(t.deployment) }, t.deployment)],
    ["type", t.type],
    ["priority", t.priority],
    ["position", t.position ?? "\u2013"],
    ["pool", t.pool],
    ["retries", `${t.retryCount} of ${t.maxRetries}`],
    ["timeout", `${t.timeoutS} s`],
    ["created", when(t.createdAt)],
    ["started", when(t.startedAt)],
    ["ended", when(t.completedAt)],
    ["last output", when(t.lastOutputAt)],
    ["dedupe key", t.dedupeKey ?? ""],
    ["depends on", links(t.dependsOn)],
    ["waiting on", links(t.waitingOn)],
    ["payload", jsonBlock(t.payload)],
    ["metadata", jsonBlock(t.metadata)],
    ["result", t.result === null || t.result === undefined ? "" : jsonBlock(t.result)],
  ];
  return h("dl", { class: "fields" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-field": k }, v)]));
}

function links(ids) {
  return (ids || []).flatMap((id) => [h("a", { href: taskHref(id), class: "id" }, id), " "]);
}

function stepTable(steps) {
  return table(
    ["step", "status", "attempts", "started", "ended", "error"],
    h("tbody", {}, steps.map((s) => h("tr", {}, h("td", {}, s.name), h("td", {}, statusBadge(s.status)), h("td", { class: "num" }, s.attempts),
      h("td", {}, when(s.startedAt)), h("td", {}, when(s.completedAt)), h("td", {}, s.error?.message || "")))),
  );
}

// History entries, numbered by attempt: each "running" entry starts the next one.
function historyTable(history) {
  let attempt = 0;
  const rows = (history || []).map((e) => {
    if (e.status === "running") attempt += 1;
    return h("tr", { class: e.status === "running" ? "attempt" : "" },
      h("td", {}, when(e.at)), h("td", {}, statusBadge(e.status)), h("td", { class: "num" }, attempt || ""), h("td", {}, e.reason || ""));
  });
  return table(["at", "status", "attempt", "reason"], h("tbody", {}, rows));
}

function errorBlock(error) {
  return h("div", { class: "error-block" },
    h("p", {}, h("strong", {}, error.reason || "error"), error.type ? ` ${error.type}: ` : ": ", error.message || ""),
    error.traceback ? h("pre", { class: "traceback" }, error.traceback) : null);
}
