// Alerts: the active ones (pending or firing) or the past ones, filtered by state, severity, server and
// text, a page at a time, newest change first. Operators and admins acknowledge, resolve and silence them;
// viewers only read. The list is read again when the stream says an alert fired or resolved.

import { get } from "../api.js";
import { ALERT_STATES, SEVERITIES, alertTable, alertTabs, followAlerts } from "../alerts.js";
import { h, replace } from "../dom.js";
import { allServers, startFleet } from "../fleet.js";
import { t } from "../i18n.js";

const PAGE_SIZE = 50;
const SEARCH_DELAY_MS = 300;

// Kept across visits, so coming back finds the same view.
const view = { state: "active", severity: "", server: "", q: "", offset: 0 };

function select(id, label, options, value, onChange) {
  const control = h(
    "select",
    { id, "aria-label": label, onchange: (e) => onChange(e.target.value) },
    options.map(([optionValue, text]) => h("option", { value: optionValue }, text)),
  );
  control.value = value;
  return control;
}

/** Render the alerts page into `root`; returns the cleanup. */
export async function render(root) {
  try {
    await startFleet(); // the servers' names, for the filter and the server column
  } catch {
    // Without the fleet, alerts show their servers by label and the server filter lists none.
  }
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const note = h("p", { class: "note", role: "status" });
  const tableBox = h("div", { class: "table-wrap" });
  const range = h("span", { class: "muted" });
  const previous = h(
    "button",
    { type: "button", class: "secondary", id: "alerts-previous", onclick: () => page(-1) },
    t("alerts.previous"),
  );
  const next = h(
    "button",
    { type: "button", class: "secondary", id: "alerts-next", onclick: () => page(1) },
    t("alerts.next"),
  );
  let searchTimer = 0;
  const search = h("input", {
    type: "search",
    id: "alerts-search",
    value: view.q,
    placeholder: t("alerts.search"),
    "aria-label": t("alerts.search"),
    oninput: (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => change({ q: e.target.value.trim() }), SEARCH_DELAY_MS);
    },
  });
  const servers = allServers().sort((a, b) => a.name.localeCompare(b.name));
  replace(
    root,
    alertTabs("/alerts"),
    h("h1", {}, t("nav.alerts")),
    h(
      "div",
      { class: "toolbar" },
      search,
      select(
        "alerts-state",
        t("alerts.filterState"),
        [...ALERT_STATES.map((state) => [state, t(`alerts.state.${state}`)]), ["", t("alerts.allStates")]],
        view.state,
        (value) => change({ state: value }),
      ),
      select(
        "alerts-severity",
        t("alerts.filterSeverity"),
        [["", t("alerts.allSeverities")], ...SEVERITIES.map((s) => [s, t(`alerts.severity.${s}`)])],
        view.severity,
        (value) => change({ severity: value }),
      ),
      select(
        "alerts-server",
        t("alerts.filterServer"),
        [["", t("alerts.allServers")], ...servers.map((s) => [s.server_id, s.name])],
        view.server,
        (value) => change({ server: value }),
      ),
    ),
    status,
    note,
    tableBox,
    h("div", { class: "pager" }, previous, range, next),
  );

  function change(patch) {
    Object.assign(view, patch, { offset: 0 });
    load();
  }

  function page(step) {
    view.offset = Math.max(0, view.offset + step * PAGE_SIZE);
    load();
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    let answer;
    try {
      answer = await get("/api/alerts", {
        state: view.state,
        severity: view.severity,
        server_id: view.server,
        q: view.q,
        limit: PAGE_SIZE,
        offset: view.offset,
      });
    } catch (err) {
      if (mine === seq) status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    if (mine !== seq) return; // a newer read is on its way
    if (answer.items.length === 0 && view.offset > 0 && answer.total > 0) {
      view.offset = Math.max(0, Math.floor((answer.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      load();
      return;
    }
    status.textContent = answer.total ? t("alerts.count", { count: answer.total }) : t("alerts.none");
    range.textContent = answer.total
      ? t("alerts.range", { from: view.offset + 1, to: view.offset + answer.items.length, total: answer.total })
      : "";
    previous.disabled = view.offset === 0;
    next.disabled = view.offset + answer.items.length >= answer.total;
    replace(
      tableBox,
      answer.items.length
        ? alertTable(answer.items, {
            onChanged: load,
            onMessage: (text) => {
              note.textContent = text;
            },
          })
        : null,
    );
  }

  await load();
  const stop = followAlerts(load);
  return () => {
    clearTimeout(searchTimer);
    stop();
  };
}
