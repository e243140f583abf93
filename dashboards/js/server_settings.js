// The monitoring settings of one server, on its page: scrape interval and timeout, the exporter collectors
// to scrape, labels and tags, and alert thresholds overridden for this server alone.
//
// Read from GET /api/servers/{id}, saved with PATCH /api/servers/{id}. The collector applies interval,
// timeout and collectors at its next re-read of the servers (within 5 s), the alert engine the thresholds at
// once. Everyone who may see the server sees the settings; operators get a Save button (the API still
// checks their grant on the server). Scrape settings only apply to servers registered through the API.

import { explain, get, patch } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { field, formatLabels, parseLabels } from "./pages/servers.js";
import { hasRole } from "./session.js";

/** "a, b,,c" → ["a", "b", "c"]. */
export function splitList(text) {
  return text
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);
}

function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

function thresholdRow(threshold) {
  const value = h("input", {
    type: "number",
    step: "any",
    min: "0",
    class: "threshold",
    "data-rule": threshold.rule,
    "aria-label": t("settings.thresholdOf", { rule: threshold.rule }),
    placeholder: String(threshold.default_threshold),
    value: threshold.overridden ? String(threshold.threshold) : "",
  });
  const clear = h("input", {
    type: "number",
    step: "any",
    min: "0",
    class: "clear-threshold",
    "aria-label": t("settings.clearOf", { rule: threshold.rule }),
    placeholder: threshold.default_clear_threshold === null ? "" : String(threshold.default_clear_threshold),
    value: threshold.overridden && threshold.clear_threshold !== null ? String(threshold.clear_threshold) : "",
  });
  const row = h(
    "tr",
    { "data-rule": threshold.rule },
    h("th", { scope: "row" }, threshold.rule),
    h("td", {}, `${threshold.metric} ${threshold.op}`),
    h("td", {}, value),
    h("td", {}, clear),
    h("td", { class: "muted" }, threshold.overridden ? t("settings.overridden") : t("settings.default")),
  );
  return { threshold, value, clear, row };
}

/** The thresholds part of the PATCH body: a value per filled row, null for a cleared override. */
function thresholdChanges(rows) {
  const changes = {};
  for (const { threshold, value, clear } of rows) {
    const given = numberOrNull(value);
    if (given === null) {
      if (threshold.overridden) changes[threshold.rule] = null;
      continue;
    }
    changes[threshold.rule] = { threshold: given, clear_threshold: numberOrNull(clear) };
  }
  return changes;
}

/** The settings section of server `id`: { el, stop }. Hidden when the server is not in the inventory. */
export function serverSettingsSection(id) {
  const body = h("div");
  const el = h(
    "section",
    { class: "server-settings", id: "server-settings", "aria-labelledby": "settings-title", hidden: true },
    h("h2", { id: "settings-title" }, t("settings.title")),
    body,
  );
  let stopped = false;

  function render(server) {
    const scrapeApplies = server.source === "api";
    const interval = h("input", { placeholder: "30s", value: server.scrape_interval || "" });
    const timeout = h("input", { placeholder: "10s", value: server.scrape_timeout || "" });
    const collectors = h("input", {
      placeholder: "cpu, memory, filesystem",
      value: (server.collectors || []).join(", "),
    });
    const labels = h("textarea", { rows: "3", placeholder: "env=prod\ngroup=web" });
    labels.value = formatLabels(server.labels);
    const tags = h("input", { placeholder: "db, eu-west", value: server.tags.join(", ") });
    const rows = (server.thresholds || []).map(thresholdRow);
    const message = h("p", { class: "error", role: "alert" });
    const status = h("p", { class: "muted", role: "status" });
    const canSave = hasRole("operator");
    const fieldset = h(
      "fieldset",
      { disabled: !canSave },
      scrapeApplies ? null : h("p", { class: "muted" }, t("settings.discovered")),
      h(
        "div",
        { class: "settings-grid" },
        field("settings-interval", t("settings.interval"), interval),
        field("settings-timeout", t("settings.timeout"), timeout),
        field("settings-collectors", t("settings.collectors"), collectors),
        field("settings-tags", t("settings.tags"), tags),
        field("settings-labels", t("settings.labels"), labels),
      ),
      h(
        "table",
        { class: "data-table", id: "settings-thresholds" },
        h("caption", {}, t("settings.thresholds")),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, t("settings.rule")),
            h("th", { scope: "col" }, t("settings.condition")),
            h("th", { scope: "col" }, t("settings.threshold")),
            h("th", { scope: "col" }, t("settings.clear")),
            h("th", { scope: "col" }, ""),
          ),
        ),
        h(
          "tbody",
          {},
          rows.length
            ? rows.map((r) => r.row)
            : h("tr", {}, h("td", { colspan: "5", class: "muted" }, t("settings.noThresholds"))),
        ),
      ),
    );
    const save = canSave ? h("button", { type: "submit", id: "settings-save" }, t("common.save")) : null;
    const form = h("form", { id: "settings-form" }, fieldset, message, status, save);
    // Scrape settings and labels of a target-file server are the file's; its tags and thresholds are ours.
    for (const control of [interval, timeout, collectors, labels]) control.disabled = !scrapeApplies;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      message.textContent = "";
      status.textContent = "";
      const change = { tags: splitList(tags.value) };
      if (scrapeApplies) {
        try {
          change.labels = parseLabels(labels.value);
        } catch (err) {
          message.textContent = err.message;
          return;
        }
        Object.assign(change, {
          scrape_interval: interval.value.trim() || null,
          scrape_timeout: timeout.value.trim() || null,
          collectors: splitList(collectors.value),
        });
      }
      const thresholds = thresholdChanges(rows);
      if (Object.keys(thresholds).length) change.thresholds = thresholds;
      save.disabled = true;
      try {
        const saved = await patch(`/api/servers/${id}`, change);
        if (stopped) return;
        render(saved);
        replace(el.querySelector("#settings-form [role=status]"), t("settings.saved"));
      } catch (err) {
        message.textContent = explain(err);
        save.disabled = false;
      }
    });
    replace(body, form);
  }

  get(`/api/servers/${id}`)
    .then((server) => {
      if (stopped) return;
      el.hidden = false;
      render(server);
    })
    .catch((err) => {
      // A target the inventory does not list, or one the caller may not read: nothing to set here.
      if (err.status !== 404 && err.status !== 403 && !stopped) {
        el.hidden = false;
        replace(body, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
      }
    });
  return { el, stop: () => (stopped = true) };
}
