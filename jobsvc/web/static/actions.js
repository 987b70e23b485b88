// What the user can do from a page: action buttons (none at all for a read-only
// token) and the notice line that reports what went wrong.

import { session } from "./api.js";
import { h } from "./dom.js";

// Shows an error (or any message) above the page until the next one.
export function notify(text) {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.hidden = !text;
}

// Runs a button's action: disabled meanwhile; a failure is shown, not thrown.
export async function act(button, action) {
  button.disabled = true;
  try {
    notify("");
    await action();
  } catch (error) {
    notify(`${button.textContent} failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// An action button, or nothing at all for a read-only token.
export function actionButton(label, action) {
  if (!session.canAct) return null;
  const button = h("button", { class: "action", type: "button" }, label);
  button.addEventListener("click", () => act(button, action));
  return button;
}
