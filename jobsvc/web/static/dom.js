// Building the page from data. Task data is hostile (a task can print anything):
// it reaches the DOM as text only, through textContent or text nodes, never as HTML.

// h("td", {class: "x", onclick: f}, child, "text", ...): an element; strings become text nodes.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Sets an element's text only when it changed: an unchanged row costs no layout.
export function setText(el, value) {
  const text = value === null || value === undefined ? "" : String(value);
  if (el.textContent !== text) el.textContent = text;
}

// Links inside the page: the hash router's paths, with names and ids encoded.
export const taskHref = (id) => `#/tasks/${encodeURIComponent(id)}`;
export const laneHref = (name) => `#/deployments/${encodeURIComponent(name)}`;

// An ISO time as "YYYY-MM-DD HH:MM:SS" (UTC, as the API gives it).
export function when(iso) {
  return iso ? iso.slice(0, 19).replace("T", " ") : "";
}

// How long ago an ISO time was, for heartbeats.
export function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

export function statusBadge(status) {
  return h("span", { class: `status ${status || "none"}` }, status || "idle");
}

// A small titled section.
export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

export function table(headings, body) {
  return h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), body);
}

// A JSON value pretty-printed as text.
export function jsonBlock(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}
