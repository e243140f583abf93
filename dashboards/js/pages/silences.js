// Silences: what keeps matching alerts from being notified for a while (their state does not change).
// Everyone reads them, active, pending or expired; operators and admins create and expire them (an operator
// only those confined to servers granted to them).

import { del, get } from "../api.js";
import { alertTabs, matcherText, silenceForm, stateBadge, timeOf } from "../alerts.js";
import { confirmDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { hasRole } from "../session.js";

const STATES = ["active", "pending", "expired"];
const view = { state: "" };

/** Render the silences page into `root`. */
export async function render(root) {
  const operator = hasRole("operator");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const note = h("p", { class: "note", role: "status" });
  const tableBox = h("div", { class: "table-wrap" });
  const stateSelect = h(
    "select",
    {
      id: "silences-state",
      "aria-label": t("silences.filterState"),
      onchange: (e) => {
        view.state = e.target.value;
        load();
      },
    },
    h("option", { value: "" }, t("silences.allStates")),
    STATES.map((state) => h("option", { value: state }, t(`alerts.state.${state}`))),
  );
  stateSelect.value = view.state;
  const create = operator
    ? h(
        "button",
        {
          type: "button",
          id: "new-silence",
          onclick: () =>
            silenceForm([], () => {
              note.textContent = t("silences.created");
              load();
            }),
        },
        t("silences.new"),
      )
    : null;
  replace(
    root,
    alertTabs("/alerts/silences"),
    h("div", { class: "section-head" }, h("h1", {}, t("alerts.tab.silences")), create),
    h("p", { class: "muted" }, t("silences.help")),
    h("div", { class: "toolbar" }, stateSelect),
    status,
    note,
    tableBox,
  );

  async function expire(silence) {
    const question = t("silences.confirmExpire", { matchers: silence.matchers.map(matcherText).join(", ") });
    if (!(await confirmDialog(question, t("silences.expire")))) return;
    try {
      await del(`/api/alerts/silences/${silence.id}`);
      note.textContent = t("silences.expired");
      load();
    } catch (err) {
      note.textContent = err.message;
    }
  }

  function row(silence) {
    return h(
      "tr",
      { "data-silence-id": silence.id, "data-state": silence.state },
      h("td", { "data-label": t("silences.col.state") }, stateBadge(silence.state)),
      h(
        "td",
        { "data-label": t("silences.matchers") },
        h(
          "ul",
          { class: "matchers" },
          silence.matchers.map((m) => h("li", {}, h("code", {}, matcherText(m)))),
        ),
      ),
      h("td", { "data-label": t("silences.col.starts") }, timeOf(silence.starts_at)),
      h("td", { "data-label": t("silences.col.ends") }, timeOf(silence.ends_at)),
      h("td", { "data-label": t("silences.col.createdBy") }, silence.created_by),
      h("td", { "data-label": t("silences.comment") }, silence.comment || "–"),
      operator
        ? h(
            "td",
            { "data-label": t("common.actions") },
            // An operator may expire only a silence confined to servers granted to them (`editable`).
            silence.state === "expired" || !silence.editable
              ? ""
              : h(
                  "button",
                  { type: "button", class: "danger", "data-action": "expire", onclick: () => expire(silence) },
                  t("silences.expire"),
                ),
          )
        : null,
    );
  }

  async function load() {
    let answer;
    try {
      answer = await get("/api/alerts/silences", { state: view.state });
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    status.textContent = answer.items.length ? t("silences.count", { count: answer.items.length }) : t("silences.none");
    const headings = [
      "silences.col.state",
      "silences.matchers",
      "silences.col.starts",
      "silences.col.ends",
      "silences.col.createdBy",
      "silences.comment",
    ];
    if (operator) headings.push("common.actions");
    replace(
      tableBox,
      answer.items.length
        ? h(
            "table",
            { class: "data-table alert-table", id: "silences-table" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                headings.map((key) => h("th", { scope: "col" }, t(key))),
              ),
            ),
            h("tbody", {}, answer.items.map(row)),
          )
        : null,
    );
  }

  await load();
  return null;
}
