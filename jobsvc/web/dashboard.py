"""The dashboard page: every deployment's active task and queue depth, live.

The page holds no data (so it needs no token); it opens the dashboard SSE
stream, passing on a ``?token=`` it was opened with.
"""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("dashboard", __name__)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>jobsvc</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
 table { border-collapse: collapse; width: 100%; }
 th, td { text-align: left; padding: .35em .8em; border-bottom: 1px solid #ddd; }
 th { background: #f4f4f4; } .running { color: #0a6; } .queued { color: #a60; }
 .paused { color: #c00; font-weight: bold; } #state { color: #888; }
 code { font-size: 12px; }
</style></head>
<body>
<h1>jobsvc</h1>
<p id="state">connecting...</p>
<table><thead><tr><th>deployment</th><th>active task</th><th>status</th>
<th>waiting</th><th>last task</th><th></th></tr></thead><tbody id="rows"></tbody></table>
<p>Try: <code>jobsvc submit demo echo --payload '{"lines": ["hello"]}' --wait</code></p>
<script>
const rows = new Map();
const body = document.getElementById("rows");
const token = new URLSearchParams(location.search).get("token");
function cell(text, cls) {
  const td = document.createElement("td"); td.textContent = text ?? "";
  if (cls) td.className = cls; return td;
}
function show(s) {
  let tr = rows.get(s.deployment);
  if (!tr) {
    tr = document.createElement("tr"); rows.set(s.deployment, tr);
    const after = [...rows.keys()].sort().find(k => k > s.deployment);
    body.insertBefore(tr, after ? rows.get(after) : null);
  }
  const last = s.lastTask ? `${s.lastTask.type} ${s.lastTask.status}` : "";
  tr.replaceChildren(cell(s.deployment), cell(s.activeTaskId || "idle"),
    cell(s.activeTaskStatus, s.activeTaskStatus), cell(s.queueDepth), cell(last),
    cell(s.paused ? "paused" : "", "paused"));
}
const url = "/api/v1/dashboard/events" + (token ? "?token=" + encodeURIComponent(token) : "");
const events = new EventSource(url);
events.onopen = () => document.getElementById("state").textContent = "live";
events.onerror = () => document.getElementById("state").textContent = "reconnecting...";
events.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.type === "snapshot") { body.replaceChildren(); rows.clear(); m.deployments.forEach(show); }
  else if (m.type === "deployment") show(m.deployment);
};
</script></body></html>
"""


@bp.get("/")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")
