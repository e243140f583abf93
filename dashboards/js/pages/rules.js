// Alert rules: what the engine evaluates, read-only for viewers and operators. Admins enable and disable a
// rule (the stored rule is sent back whole with `enabled` changed); rules are written through the API.

import { explain, get, put } from "../api.js";
import { alertTabs, matcherText, severityBadge } from "../alerts.js";
import { h, replace } from "../dom.js";
import { duration, plain } from "../format.js";
import { t } from "../i18n.js";
import { hasRole } from "../session.js";

/** What makes the rule hold, in a few words. */
function condition(rule) {
  if (rule.kind === "threshold") {
    const text = `${rule.metric} ${rule.op} ${plain(rule.threshold)}`;
    return rule.clear_threshold === null || rule.clear_threshold === undefined
      ? text
      : `${text} (${t("rules.clearsAt", { value: plain(rule.clear_threshold) })})`;
  }
  if (rule.kind === "down") return t("rules.downCondition");
  return t("rules.diskFullCondition", { hours: plain(rule.hours), lookback: duration(rule.lookback_s) });
}

/** Render the rules page into `root`. */
export async function render(root) {
  const admin = hasRole("admin");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const note = h("p", { class: "note", role: "status" });
  const tableBox = h("div", { class: "table-wrap" });
  replace(
    root,
    alertTabs("/alerts/rules"),
    h("h1", {}, t("alerts.tab.rules")),
    h("p", { class: "muted" }, admin ? t("rules.helpAdmin") : t("rules.help")),
    status,
    note,
    tableBox,
  );

  async function toggle(rule, button) {
    button.disabled = true;
    try {
      await put(`/api/alerts/rules/${encodeURIComponent(rule.id)}`, { ...rule, enabled: !rule.enabled });
      note.textContent = t(rule.enabled ? "rules.disabledDone" : "rules.enabledDone", { name: rule.name });
      await load();
    } catch (err) {
      note.textContent = explain(err);
      button.disabled = false;
    }
  }

  function row(rule) {
    const enabled = h(
      "span",
      { class: rule.enabled ? "ok" : "muted" },
      rule.enabled ? t("rules.enabled") : t("rules.disabled"),
    );
    const scope = rule.matchers.length
      ? h(
          "ul",
          { class: "matchers" },
          rule.matchers.map((m) => h("li", {}, h("code", {}, matcherText(m)))),
        )
      : t("rules.everyServer");
    let action = null;
    if (admin) {
      const button = h(
        "button",
        {
          type: "button",
          class: "secondary",
          "data-action": "toggle",
          "aria-label": `${rule.enabled ? t("rules.disable") : t("rules.enable")}: ${rule.name}`,
          onclick: () => toggle(rule, button),
        },
        rule.enabled ? t("rules.disable") : t("rules.enable"),
      );
      action = h("td", { "data-label": t("common.actions") }, button);
    }
    return h(
      "tr",
      { "data-rule-id": rule.id, "data-enabled": String(rule.enabled) },
      h("td", { "data-label": t("rules.col.name") }, h("strong", {}, rule.name)),
      h("td", { "data-label": t("rules.col.kind") }, t(`rules.kind.${rule.kind}`)),
      h("td", { "data-label": t("rules.col.condition") }, condition(rule)),
      h("td", { "data-label": t("alerts.col.severity") }, severityBadge(rule.severity)),
      h("td", { "data-label": t("rules.col.for") }, duration(rule.for_s)),
      h("td", { "data-label": t("rules.col.scope") }, scope),
      h("td", { "data-label": t("rules.col.enabled") }, enabled),
      action,
    );
  }

  async function load() {
    let answer;
    try {
      answer = await get("/api/alerts/rules");
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    status.textContent = t("rules.count", { count: answer.items.length });
    const headings = [
      "rules.col.name",
      "rules.col.kind",
      "rules.col.condition",
      "alerts.col.severity",
      "rules.col.for",
      "rules.col.scope",
      "rules.col.enabled",
    ];
    if (admin) headings.push("common.actions");
    replace(
      tableBox,
      h(
        "table",
        { class: "data-table alert-table", id: "rules-table" },
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
      ),
    );
  }

  await load();
  return null;
}
