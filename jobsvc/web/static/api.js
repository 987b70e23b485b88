// The API as the page calls it: the token (typed once, kept in this tab's
// sessionStorage) goes in an Authorization header, and on a WebSocket, which
// cannot carry headers, as a subprotocol; never in a URL, which logs keep.

const TOKEN_KEY = "jobsvc.token";

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  scope: null, // "full" or "read", from GET /api/v1/me
  get canAct() { return this.scope === "full"; },
  remember(token) { this.token = token; sessionStorage.setItem(TOKEN_KEY, token); },
  forget() { this.token = null; sessionStorage.removeItem(TOKEN_KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(`/api/v1${path}`, init);
  const type = response.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const post = (path, body) => api(path, { method: "POST", body });

// "jobsvc.bearer." + the token in unpadded base64url: a subprotocol must be an HTTP token.
function bearerProtocol(token) {
  const bytes = new TextEncoder().encode(token);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return "jobsvc.bearer." + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function openSocket(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const protocols = ["jobsvc"];
  if (session.token) protocols.push(bearerProtocol(session.token));
  return new WebSocket(`${scheme}//${location.host}${path}`, protocols);
}
