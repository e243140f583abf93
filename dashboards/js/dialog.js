// Modal dialogs on the native <dialog> element: focus is trapped and Escape closes, by the browser.

import { h } from "./dom.js";
import { t } from "./i18n.js";

/** Open a modal with `title` and `content`; returns {dialog, close}. It is removed from the page when closed. */
export function openDialog(title, content, { actions = [] } = {}) {
  const dialog = h(
    "dialog",
    { "aria-labelledby": "dialog-title" },
    h("h2", { id: "dialog-title" }, title),
    content,
    h(
      "div",
      { class: "dialog-actions" },
      actions,
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, t("common.close")),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close: () => dialog.close() };
}

/** Ask a yes/no question; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    let answered = false;
    const yes = h(
      "button",
      {
        type: "button",
        class: "danger",
        onclick: () => {
          answered = true;
          close();
        },
      },
      confirmLabel,
    );
    const { dialog, close } = openDialog(t("common.confirm"), h("p", {}, question), { actions: [yes] });
    dialog.addEventListener("close", () => resolve(answered));
  });
}
