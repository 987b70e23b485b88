// The dashboard's live table: a snapshot of every lane, then one message per change.
// Served as a file of its own, so the page's Content-Security-Policy allows no inline script.
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
