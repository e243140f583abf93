// The server page's remote actions panel: what the host offers (asked of its exporter through the API),
// a confirm dialog for a run (with the parameters the host declares, and a TOTP code for destructive
// actions), the result once the run has finished, and the history of requests.
//
// POST /api/servers/{id}/actions/{name} answers when the action has finished; the panel shows "running"
// meanwhile. Operators and admins run; viewers see the actions and the history.

import { ApiError, explain, get, post } from "./api.js";
import { openDialog } from "./dialog.js";
import { h, replace } from "./dom.js";
import { dateTime, plain } from "./format.js";
import { t } from "./i18n.js";
import { hasRole } from "./session.js";

const HISTORY_SHOWN = 20;

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${plain(value, 2)} s`;
}

function outcomeBadge(outcome) {
  return h("span", { class: `badge outcome-${outcome}`, "data-outcome": outcome }, t(`actions.outcome.${outcome}`));
}

function paramsText(params) {
  return Object.entries(params || {})
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
}

/** A form control for one declared parameter: a select for an enum, a text input for a pattern. */
function paramControl(param) {
  const id = `action-param-${param.name}`;
  const control = param.enum
    ? h(
        "select",
        { id, name: param.name, required: param.required },
        param.enum.map((value) => h("option", { value }, value)),
      )
    : h("input", { id, name: param.name, type: "text", required: param.required, autocomplete: "off" });
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, param.name),
    control,
    param.pattern ? h("span", { class: "muted small" }, t("actions.pattern", { pattern: param.pattern })) : null,
  );
}

/** Ask for the parameters (and a TOTP code when destructive); resolves to the request body, or null. */
function askToRun(action, serverName) {
  return new Promise((resolve) => {
    let body = null;
    const totp = h("input", {
      id: "action-totp",
      name: "totp_code",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      pattern: "[0-9]{6}",
      maxlength: "6",
      required: true,
    });
    const form = h(
      "form",
      { id: "action-form" },
      h("p", {}, t("actions.confirmText", { name: action.name, server: serverName })),
      action.description ? h("p", { class: "muted" }, action.description) : null,
      action.params.map(paramControl),
      action.destructive
        ? h(
            "div",
            { class: "field" },
            h("p", { class: "error" }, t("actions.destructiveWarning")),
            h("label", { for: "action-totp" }, t("actions.totp")),
            totp,
          )
        : null,
    );
    const run = h(
      "button",
      { type: "submit", form: "action-form", class: action.destructive ? "danger" : "", id: "action-confirm" },
      t("actions.run"),
    );
    const { dialog, close } = openDialog(t("actions.confirmTitle", { name: action.name }), form, { actions: [run] });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const params = {};
      for (const param of action.params) {
        const value = form.elements[param.name].value;
        if (value !== "" || param.required) params[param.name] = value;
      }
      body = { params };
      if (action.destructive) body.totp_code = totp.value.trim();
      close();
    });
    dialog.addEventListener("close", () => resolve(body));
    (action.params.length ? form.elements[action.params[0].name] : action.destructive ? totp : run).focus();
  });
}

function resultView(run) {
  const rows = [
    [t("actions.outcome"), outcomeBadge(run.outcome)],
    [t("actions.exitCode"), run.exit_code ?? "–"],
    [t("actions.duration"), seconds(run.duration_s)],
  ];
  return [
    h("h3", {}, t("actions.resultOf", { name: run.action })),
    h(
      "dl",
      { class: "action-facts" },
      rows.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
    ),
    run.stdout ? [h("h4", {}, t("actions.stdout")), h("pre", { class: "action-output", "data-stream": "stdout" }, run.stdout)] : null,
    run.stderr ? [h("h4", {}, t("actions.stderr")), h("pre", { class: "action-output", "data-stream": "stderr" }, run.stderr)] : null,
    run.truncated ? h("p", { class: "muted small" }, t("actions.truncated")) : null,
  ];
}

/** The actions panel of server `serverId`; returns {el, stop}. */
export function serverActionsSection(serverId, serverName) {
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const list = h("div", { class: "table-wrap" });
  const result = h("div", { class: "action-result", "aria-live": "polite", hidden: true });
  const history = h("div", { class: "table-wrap" });
  const el = h(
    "section",
    { class: "server-actions", "aria-labelledby": "server-actions-title" },
    h("div", { class: "section-head" }, h("h2", { id: "server-actions-title" }, t("actions.title"))),
    status,
    list,
    result,
    h("h3", {}, t("actions.history")),
    history,
  );
  let stopped = false;
  let busy = false;

  async function runAction(action) {
    if (busy) return;
    const body = await askToRun(action, serverName);
    if (!body || stopped) return;
    busy = true;
    for (const button of list.querySelectorAll("button")) button.disabled = true;
    result.hidden = false;
    replace(result, h("p", { class: "muted", "data-running": action.name }, t("actions.running", { name: action.name })));
    try {
      const run = await post(`/api/servers/${serverId}/actions/${encodeURIComponent(action.name)}`, body);
      if (!stopped) replace(result, resultView(run));
    } catch (err) {
      if (!stopped) {
        const message = err instanceof ApiError && err.code in CODES ? t(CODES[err.code]) : explain(err);
        replace(result, h("p", { class: "error", role: "alert", "data-code": err.code || "" }, message));
      }
    } finally {
      busy = false;
      for (const button of list.querySelectorAll("button")) button.disabled = false;
      if (!stopped) loadHistory();
    }
  }

  function actionTable(actions) {
    const canRun = hasRole("operator");
    return h(
      "table",
      { class: "data-table", id: "server-actions-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, t("actions.name")),
          h("th", { scope: "col" }, t("actions.description")),
          h("th", { scope: "col" }, t("actions.kind")),
          canRun ? h("th", { scope: "col" }, t("common.actions")) : null,
        ),
      ),
      h(
        "tbody",
        {},
        actions.map((action) =>
          h(
            "tr",
            { "data-action": action.name },
            h(
              "td",
              {},
              action.name,
              action.destructive ? h("span", { class: "badge destructive" }, ` ${t("actions.destructive")}`) : null,
            ),
            h("td", {}, action.description || "–"),
            h("td", {}, action.kind),
            canRun
              ? h(
                  "td",
                  { class: "actions" },
                  h(
                    "button",
                    { type: "button", class: "secondary", "data-run": action.name, onclick: () => runAction(action) },
                    t("actions.run"),
                  ),
                )
              : null,
          ),
        ),
      ),
    );
  }

  async function loadActions() {
    status.textContent = t("common.loading");
    try {
      const listing = await get(`/api/servers/${serverId}/actions`);
      if (stopped) return;
      if (!listing.available) {
        // Most hosts run no actions listener: a state to show, not an error.
        status.textContent =
          listing.reason === "actions_not_configured"
            ? t("actions.notConfigured")
            : t("actions.unavailable", { message: listing.message || listing.reason });
        status.dataset.reason = listing.reason || "";
      } else {
        status.textContent = listing.actions.length ? "" : t("actions.none");
      }
      replace(list, listing.actions.length ? actionTable(listing.actions) : null);
    } catch (err) {
      if (!stopped) status.textContent = t("common.loadFailed", { message: explain(err) });
    }
  }

  async function loadHistory() {
    let page;
    try {
      page = await get(`/api/servers/${serverId}/actions/history`, { limit: HISTORY_SHOWN });
    } catch (err) {
      if (!stopped) replace(history, h("p", { class: "muted" }, t("common.loadFailed", { message: err.message })));
      return;
    }
    if (stopped) return;
    if (!page.runs.length) {
      replace(history, h("p", { class: "muted" }, t("actions.noHistory")));
      return;
    }
    replace(
      history,
      h(
        "table",
        { class: "data-table", id: "server-action-history" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            [
              "actions.when",
              "actions.who",
              "actions.name",
              "actions.params",
              "actions.outcome",
              "actions.exitCode",
              "actions.duration",
            ].map((key) => h("th", { scope: "col" }, t(key))),
          ),
        ),
        h(
          "tbody",
          {},
          page.runs.map((run) =>
            h(
              "tr",
              { "data-run-id": run.id },
              h("td", {}, dateTime(run.requested_at)),
              h("td", {}, run.requested_by),
              h("td", {}, run.action),
              h("td", {}, paramsText(run.params) || "–"),
              h("td", { title: run.message || "" }, outcomeBadge(run.outcome), run.reason ? ` ${run.reason}` : ""),
              h("td", { class: "num" }, run.exit_code ?? "–"),
              h("td", { class: "num" }, seconds(run.duration_s)),
            ),
          ),
        ),
      ),
    );
  }

  loadActions();
  loadHistory();
  return {
    el,
    stop: () => {
      stopped = true;
    },
  };
}

/** Refusals with a message of their own in the panel. */
const CODES = {
  totp_required: "actions.error.totpRequired",
  invalid_totp: "actions.error.invalidTotp",
  totp_not_enrolled: "actions.error.totpNotEnrolled",
  rate_limited: "actions.error.rateLimited",
};
