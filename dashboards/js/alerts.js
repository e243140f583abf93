// Alerts as the pages show them: severity and state badges, the alert table with the actions the caller's
// role allows (acknowledge, resolve, silence), the silence form, the tabs of the alerts pages, the overview's
// recent alerts, and re-reading when the stream says an alert fired or resolved.
//
// An "alert" event carries the engine's view of the alert (no stored id), so views do not patch rows from
// it: they read their list again, once per burst of events.

import { explain, get, post } from "./api.js";
import { confirmDialog, openDialog } from "./dialog.js";
import { h, replace } from "./dom.js";
import { subscribe } from "./events.js";
import { serverById } from "./fleet.js";
import { ago, dateTime } from "./format.js";
import { t } from "./i18n.js";
import { hasRole } from "./session.js";

export const SEVERITIES = ["critical", "warning", "info"];
export const ALERT_STATES = ["active", "firing", "pending", "resolved"];
const LIVE_DELAY_MS = 300;
const RECENT_COUNT = 5;
const SILENCE_DEFAULT_MS = 2 * 3600 * 1000;
const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;
const TABS = [
  ["/alerts", "alerts.tab.alerts"],
  ["/alerts/silences", "alerts.tab.silences"],
  ["/alerts/rules", "alerts.tab.rules"],
];

/** The severity as a coloured badge. */
export function severityBadge(severity) {
  return h(
    "span",
    { class: `badge severity-${severity}`, "data-severity": severity },
    t(`alerts.severity.${severity}`),
  );
}

/** An alert's or a silence's state as a badge. */
export function stateBadge(state) {
  return h("span", { class: `badge state-${state}`, "data-state": state }, t(`alerts.state.${state}`));
}

/** Unix seconds as a <time> in the browser's zone, or "–". */
export function timeOf(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return h("time", { datetime: new Date(seconds * 1000).toISOString() }, dateTime(seconds));
}

/** The links between the alerts, silences and rules pages; `active` is the current one's path. */
export function alertTabs(active) {
  return h(
    "nav",
    { class: "tabs", "aria-label": t("alerts.tabs") },
    TABS.map(([path, label]) =>
      h("a", { href: `#${path}`, "aria-current": path === active ? "page" : null }, t(label)),
    ),
  );
}

/** The name to show for an alert's server: the fleet's name when known, else its labels. */
export function serverName(alert) {
  const server = alert.server_id ? serverById(alert.server_id) : undefined;
  if (server) return server.name;
  return alert.labels.name || alert.labels.instance || (alert.server_id ? alert.server_id.slice(0, 8) : "–");
}

/** A matcher as text: `name="value"`. */
export function matcherText(matcher) {
  return `${matcher.name}${matcher.op}${JSON.stringify(matcher.value)}`;
}

/** Matchers from text, one per line (or comma-separated): name=value, name!=value, name=~re, name!~re. */
export function parseMatchers(text) {
  const matchers = [];
  for (const line of text.split(/\n/)) {
    if (!line.trim()) continue;
    const found = MATCHER.exec(line);
    if (!found) throw new Error(t("silences.badMatcher", { line: line.trim() }));
    let value = found[3];
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      try {
        value = JSON.parse(value);
      } catch {
        throw new Error(t("silences.badMatcher", { line: line.trim() }));
      }
    }
    matchers.push({ name: found[1], op: found[2], value });
  }
  if (!matchers.length) throw new Error(t("silences.noMatcher"));
  return matchers;
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function field(id, label, control, help) {
  control.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help ? h("span", { class: "muted small", id: `${id}-help` }, help) : null,
  );
}

/** The new-silence dialog (operators), its matchers pre-filled; `onSaved(silence)` after it is created. */
export function silenceForm(matchers, onSaved) {
  const matcherInput = h("textarea", {
    rows: "3",
    required: true,
    placeholder: 'alertname="HighCpu"\nserver_id="…"',
    "aria-describedby": "silence-matchers-help",
  });
  matcherInput.value = matchers.map(matcherText).join("\n");
  const until = h("input", { type: "datetime-local", required: true });
  until.value = localInputValue(new Date(Date.now() + SILENCE_DEFAULT_MS));
  const comment = h("textarea", { rows: "2" });
  const message = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { id: "silence-form" },
    field("silence-matchers", t("silences.matchers"), matcherInput, t("silences.matchersHelp")),
    field("silence-until", t("silences.until"), until),
    field("silence-comment", t("silences.comment"), comment),
    message,
  );
  const save = h("button", { type: "submit", form: "silence-form" }, t("silences.create"));
  const { close } = openDialog(t("silences.new"), form, { actions: [save] });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    let body;
    try {
      const ends = new Date(until.value);
      if (Number.isNaN(ends.getTime())) throw new Error(t("silences.badUntil"));
      body = { matchers: parseMatchers(matcherInput.value), ends_at: ends.toISOString(), comment: comment.value };
    } catch (err) {
      message.textContent = err.message;
      return;
    }
    save.disabled = true;
    try {
      const created = await post("/api/alerts/silences", body);
      close();
      onSaved(created);
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      save.disabled = false;
    }
  });
  matcherInput.focus();
}

function silenceShortcut(alert) {
  const matchers = [{ name: "alertname", op: "=", value: alert.labels.alertname || alert.name }];
  if (alert.server_id) matchers.push({ name: "server_id", op: "=", value: alert.server_id });
  return matchers;
}

function alertCell(alert) {
  return h(
    "td",
    { "data-label": t("alerts.col.alert") },
    h("strong", { class: "alert-title" }, alert.title),
    h("div", { class: "alert-message" }, alert.message),
    h("div", { class: "muted small" }, alert.name),
  );
}

function timesCell(alert) {
  const rows = [
    ["alerts.started", alert.started_at],
    ["alerts.fired", alert.fired_at],
    ["alerts.resolved", alert.resolved_at],
  ].filter(([, value]) => value !== null && value !== undefined);
  return h(
    "td",
    { "data-label": t("alerts.col.times"), class: "alert-times" },
    rows.map(([label, value]) => h("div", {}, h("span", { class: "muted" }, `${t(label)} `), timeOf(value))),
  );
}

/**
 * A table of alerts. `onChanged()` runs after an acknowledge or resolve, `onMessage(text)` reports a result
 * or an error; `showServer` adds the server column (not on the server's own page).
 */
export function alertTable(alerts, { onChanged, onMessage, showServer = true, id = "alerts-table" }) {
  const operator = hasRole("operator");

  async function act(alert, action) {
    if (action === "resolve") {
      const question = t("alerts.confirmResolve", { title: alert.title });
      if (!(await confirmDialog(question, t("alerts.resolve")))) return;
    }
    try {
      await post(`/api/alerts/${alert.id}/${action}`);
      onMessage(t(action === "resolve" ? "alerts.resolvedDone" : "alerts.acknowledgedDone"));
      onChanged();
    } catch (err) {
      onMessage(explain(err));
    }
  }

  function actions(alert) {
    const buttons = [];
    if (!alert.read && alert.state !== "resolved") {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            "data-action": "acknowledge",
            onclick: () => act(alert, "acknowledge"),
          },
          t("alerts.acknowledge"),
        ),
      );
    }
    if (alert.state !== "resolved") {
      buttons.push(
        h(
          "button",
          { type: "button", class: "secondary", "data-action": "resolve", onclick: () => act(alert, "resolve") },
          t("alerts.resolve"),
        ),
      );
    }
    buttons.push(
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          "data-action": "silence",
          onclick: () => silenceForm(silenceShortcut(alert), () => onMessage(t("silences.created"))),
        },
        t("alerts.silence"),
      ),
    );
    return h("td", { "data-label": t("common.actions") }, h("div", { class: "actions" }, buttons));
  }

  function row(alert) {
    return h(
      "tr",
      { "data-alert-id": alert.id, "data-state": alert.state },
      h("td", { "data-label": t("alerts.col.severity") }, severityBadge(alert.severity)),
      h("td", { "data-label": t("alerts.col.state") }, stateBadge(alert.state)),
      alertCell(alert),
      showServer
        ? h(
            "td",
            { "data-label": t("alerts.col.server") },
            alert.server_id
              ? h("a", { href: `#/server/${encodeURIComponent(alert.server_id)}` }, serverName(alert))
              : "–",
          )
        : null,
      timesCell(alert),
      h(
        "td",
        { "data-label": t("alerts.col.acknowledged") },
        alert.read
          ? [alert.acknowledged_by || "", " ", h("span", { class: "muted small" }, timeOf(alert.acknowledged_at))]
          : "–",
      ),
      operator ? actions(alert) : null,
    );
  }

  const headings = ["alerts.col.severity", "alerts.col.state", "alerts.col.alert"];
  if (showServer) headings.push("alerts.col.server");
  headings.push("alerts.col.times", "alerts.col.acknowledged");
  if (operator) headings.push("common.actions");
  return h(
    "table",
    { class: "data-table alert-table", id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headings.map((key) => h("th", { scope: "col" }, t(key))),
      ),
    ),
    h("tbody", {}, alerts.map(row)),
  );
}

/** Call `reload()` after alert events (once per burst) and after a gap in the stream; returns the stop. */
export function followAlerts(reload) {
  let timer = 0;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(reload, LIVE_DELAY_MS);
  };
  const stops = [subscribe("alert", soon), subscribe("reconnect", soon)];
  return () => {
    clearTimeout(timer);
    stops.forEach((stop) => stop());
  };
}

/** The overview's panel of the latest active alerts, kept current; returns {el, stop}. */
export function recentAlertsPanel() {
  const list = h("ul", { class: "recent-alerts", id: "recent-alerts" });
  const status = h("p", { class: "muted small", "aria-live": "polite" }, t("common.loading"));
  const el = h(
    "section",
    { class: "card recent-panel", "aria-labelledby": "recent-alerts-title" },
    h(
      "div",
      { class: "section-head" },
      h("h2", { id: "recent-alerts-title" }, t("alerts.recent")),
      h("a", { href: "#/alerts" }, t("alerts.all")),
    ),
    status,
    list,
  );

  async function load() {
    let answer;
    try {
      answer = await get("/api/alerts", { state: "active", limit: RECENT_COUNT });
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    status.textContent = answer.total ? t("alerts.activeCount", { count: answer.total }) : t("alerts.noneActive");
    replace(
      list,
      answer.items.map((alert) =>
        h(
          "li",
          { "data-alert-id": alert.id },
          severityBadge(alert.severity),
          h("a", { href: "#/alerts", class: "recent-title" }, alert.title),
          h(
            "span",
            { class: "muted small" },
            `${serverName(alert)} · ${ago(alert.fired_at ?? alert.started_at ?? alert.updated_at)}`,
          ),
        ),
      ),
    );
  }

  load();
  return { el, stop: followAlerts(load) };
}

/** The server page's alerts of one server, active first then the latest resolved; returns {el, stop}. */
export function serverAlertsSection(serverId) {
  const box = h("div", { class: "table-wrap" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const note = h("p", { class: "note", role: "status" });
  const el = h(
    "section",
    { class: "server-alerts", "aria-labelledby": "server-alerts-title" },
    h(
      "div",
      { class: "section-head" },
      h("h2", { id: "server-alerts-title" }, t("nav.alerts")),
      h("a", { href: "#/alerts" }, t("alerts.all")),
    ),
    status,
    note,
    box,
  );

  async function load() {
    let active;
    let resolved;
    try {
      [active, resolved] = await Promise.all([
        get("/api/alerts", { server_id: serverId, state: "active", limit: 100 }),
        get("/api/alerts", { server_id: serverId, state: "resolved", limit: 10 }),
      ]);
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    const items = [...active.items, ...resolved.items];
    status.textContent = active.total ? t("alerts.activeCount", { count: active.total }) : t("alerts.noneActive");
    if (!items.length) {
      replace(box);
      return;
    }
    replace(
      box,
      alertTable(items, {
        onChanged: load,
        onMessage: (text) => {
          note.textContent = text;
        },
        showServer: false,
        id: "server-alerts-table",
      }),
    );
  }

  load();
  return { el, stop: followAlerts(load) };
}
