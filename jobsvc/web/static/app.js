// The dashboard: asks for a token if the server needs one, learns its scope, opens the
// live feed, and routes on the URL's hash (#/, #/deployments/<d>, #/tasks/<id>,
// #/tasks?status=..., #/workers), each page a module of pages/ that fills <main>.

import { api, ApiError, session } from "./api.js";
import { notify } from "./actions.js";
import { h } from "./dom.js";
import { Feed } from "./live.js";
import * as deployments from "./pages/deployments.js";
import * as deployment from "./pages/deployment.js";
import * as task from "./pages/task.js";
import * as tasks from "./pages/tasks.js";
import * as workers from "./pages/workers.js";

const $ = (id) => document.getElementById(id);
const needsToken = document.body.dataset.auth === "required";
let unmount = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === "deployments" && parts[1]) return [deployment, { name: parts[1] }];
  if (parts[0] === "tasks" && parts[1]) return [task, { id: parts[1] }];
  if (parts[0] === "tasks") return [tasks, { params }];
  if (parts[0] === "workers") return [workers, {}];
  return [deployments, {}];
}

function show(feed) {
  if (unmount) unmount();
  notify("");
  const view = $("view");
  view.replaceChildren();
  const [page, args] = route();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("current", link.getAttribute("href") === `#/${location.hash.split(/[/?]/)[1] || ""}`);
  }
  unmount = page.mount(view, { ...args, feed }) || null;
}

async function learnScope() {
  const me = await api("/me");
  session.scope = me.scope;
  $("who").replaceChildren(
    me.authRequired ? h("span", { class: "scope" }, `${me.tokenName} (${me.scope === "full" ? "full access" : "read-only"})`) : "",
    me.authRequired ? h("button", { type: "button", class: "link", onclick: signOut }, "forget token") : "",
  );
}

function signOut() {
  session.forget();
  location.reload();
}

// Asks for the token; resolves once the server accepts one.
function askToken(message = "") {
  return new Promise((resolve) => {
    const form = $("login");
    form.hidden = false;
    $("login-error").textContent = message;
    $("token").focus();
    form.onsubmit = async (event) => {
      event.preventDefault();
      session.remember($("token").value.trim());
      try {
        await learnScope();
        form.hidden = true;
        resolve();
      } catch (error) {
        session.forget();
        $("login-error").textContent = error instanceof ApiError && error.status === 401 ? "That token is not accepted." : error.message;
      }
    };
  });
}

async function start() {
  // A token in the page's own URL (older links) is moved into the session and out of the URL.
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) {
    session.remember(fromUrl);
    history.replaceState(null, "", location.pathname + location.hash);
  }
  if (needsToken && !session.token) await askToken();
  else {
    try {
      await learnScope();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      session.forget();
      await askToken("The saved token is no longer accepted.");
    }
  }
  const feed = new Feed((state) => { $("conn").textContent = state; });
  feed.start();
  window.addEventListener("hashchange", () => show(feed));
  show(feed);
}

start().catch((error) => notify(`The dashboard could not start: ${error.message}`));
