// Server inventory: every server the caller may see; operators register, edit and test servers, admins
// delete them. Actions a role may not take are not shown at all.

import { del, explain, get, patch, post } from "../api.js";
import { confirmDialog, openDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { dateTime, plain, statusLabel } from "../format.js";
import { t } from "../i18n.js";
import { hasRole } from "../session.js";

const PAGE_SIZE = 1000;

/** Labels from `name=value` lines (or commas); throws naming a bad line. */
export function parseLabels(text) {
  const labels = {};
  for (const line of text.split(/[\n,]/)) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const at = trimmed.indexOf("=");
    if (at <= 0) throw new Error(t("servers.badLabel", { line: trimmed }));
    labels[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return labels;
}

/** Labels as `name=value` lines. */
export function formatLabels(labels) {
  return Object.entries(labels || {})
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");
}

/** A labelled form field. */
export function field(id, label, control) {
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

/** The connection test's report as a short paragraph. */
function reportView(report) {
  const lines = report.ok
    ? [
        h("strong", { class: "ok" }, t("servers.testOk")),
        ` ${t("servers.testSummary", {
          samples: report.sample_count,
          families: report.family_count,
          ms: plain(report.duration_s * 1000, 0),
        })}`,
        report.openmanager_exporter ? ` · OpenManager exporter` : report.node_exporter ? " · node_exporter" : "",
      ]
    : [h("strong", { class: "error" }, t("servers.testFailed")), ` ${report.error || report.error_reason || ""}`];
  return h("p", { class: "report", role: "status" }, lines);
}

function serverForm(server, onSaved) {
  const editing = server !== null;
  const name = h("input", { required: true, value: editing ? server.name : "" });
  const address = h("input", {
    required: true,
    placeholder: "10.0.0.5:9110",
    value: editing ? server.address || "" : "",
    disabled: editing,
  });
  const job = h("input", { value: editing ? server.job || "" : "servers", disabled: editing });
  const scheme = h("select", {}, h("option", { value: "http" }, "http"), h("option", { value: "https" }, "https"));
  scheme.value = editing ? server.scheme : "http";
  const path = h("input", { value: editing ? server.metrics_path : "/metrics" });
  const interval = h("input", { placeholder: "30s", value: editing ? server.scrape_interval || "" : "" });
  const labels = h("textarea", { rows: "3", placeholder: "env=prod\nrole=web" });
  labels.value = editing ? formatLabels(server.labels) : "";
  const description = h("textarea", { rows: "2" });
  description.value = editing ? server.description || "" : "";
  const enabled = h("input", { type: "checkbox", id: "server-enabled", checked: editing ? server.enabled : true });
  const message = h("p", { class: "error", role: "alert" });
  const report = h("div");
  const form = h(
    "form",
    { id: "server-form" },
    field("server-name", t("servers.name"), name),
    field("server-address", t("servers.address"), address),
    field("server-job", t("servers.job"), job),
    field("server-scheme", t("servers.scheme"), scheme),
    field("server-path", t("servers.path"), path),
    field("server-interval", t("servers.interval"), interval),
    field("server-labels", t("servers.labels"), labels),
    field("server-description", t("servers.description"), description),
    h("div", { class: "checkbox" }, enabled, h("label", { for: "server-enabled" }, t("servers.enabled"))),
    report,
    message,
  );
  const testButton = h("button", { type: "button", class: "secondary", id: "server-form-test" }, t("servers.test"));
  const save = h("button", { type: "submit", form: "server-form" }, t("common.save"));
  const { close } = openDialog(editing ? t("servers.edit") : t("servers.register"), form, {
    actions: [testButton, save],
  });
  testButton.addEventListener("click", async () => {
    message.textContent = "";
    testButton.disabled = true;
    try {
      const answer = editing
        ? await post(`/api/servers/${server.id}/test`)
        : await post("/api/servers/test", {
            address: address.value.trim(),
            scheme: scheme.value,
            metrics_path: path.value,
          });
      replace(report, reportView(answer));
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      testButton.disabled = false;
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    let body;
    try {
      body = {
        name: name.value.trim(),
        scheme: scheme.value,
        metrics_path: path.value.trim() || "/metrics",
        labels: parseLabels(labels.value),
        description: description.value.trim() || null,
        scrape_interval: interval.value.trim() || null,
        enabled: enabled.checked,
      };
    } catch (err) {
      message.textContent = err.message;
      return;
    }
    if (!editing) Object.assign(body, { address: address.value.trim(), job: job.value.trim() || "servers" });
    save.disabled = true;
    try {
      if (editing) await patch(`/api/servers/${server.id}`, body);
      else await post("/api/servers", body);
      close();
      onSaved();
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      save.disabled = false;
    }
  });
  name.focus();
}

/** Render the servers page into `root`. */
export async function render(root) {
  const tableBox = h("div", { class: "table-wrap" });
  const register = hasRole("operator")
    ? h(
        "button",
        { type: "button", id: "register-server", onclick: () => serverForm(null, load) },
        t("servers.register"),
      )
    : null;
  const status = h("p", { class: "muted", "aria-live": "polite" });
  replace(root, h("div", { class: "section-head" }, h("h1", {}, t("nav.servers")), register), status, tableBox);

  async function testServer(server, cell) {
    try {
      replace(cell, reportView(await post(`/api/servers/${server.id}/test`)));
    } catch (err) {
      replace(cell, h("p", { class: "error" }, err.message));
    }
  }

  async function remove(server) {
    if (!(await confirmDialog(t("servers.confirmDelete", { name: server.name }), t("common.delete")))) return;
    try {
      await del(`/api/servers/${server.id}`);
      load();
    } catch (err) {
      status.textContent = err.message;
    }
  }

  function row(server) {
    const reportCell = h("div");
    const actions = [];
    if (hasRole("operator")) {
      actions.push(
        h(
          "button",
          { type: "button", class: "secondary", "data-action": "edit", onclick: () => serverForm(server, load) },
          t("common.edit"),
        ),
        h(
          "button",
          { type: "button", class: "secondary", "data-action": "test", onclick: () => testServer(server, reportCell) },
          t("servers.test"),
        ),
      );
    }
    if (hasRole("admin")) {
      actions.push(
        h(
          "button",
          { type: "button", class: "danger", "data-action": "delete", onclick: () => remove(server) },
          t("common.delete"),
        ),
      );
    }
    const live = server.live ? server.live.status : server.status;
    return h(
      "tr",
      { "data-server-id": server.id },
      h("td", {}, h("a", { href: `#/server/${server.id}` }, server.name), reportCell),
      h("td", {}, server.address || server.hostname),
      h("td", {}, server.job || "–"),
      h("td", {}, h("span", { class: `badge status-${live}` }, statusLabel(live))),
      h("td", {}, t(`servers.source.${server.source}`)),
      h("td", {}, server.enabled ? t("common.yes") : t("common.no")),
      h("td", {}, dateTime(server.updated_at)),
      actions.length ? h("td", {}, h("div", { class: "actions" }, actions)) : null,
    );
  }

  async function load() {
    status.textContent = t("common.loading");
    let answer;
    try {
      answer = await get("/api/servers", { limit: PAGE_SIZE });
    } catch (err) {
      status.textContent = t("common.loadFailed", { message: err.message });
      return;
    }
    status.textContent = t("servers.count", { count: answer.total });
    const withActions = hasRole("operator");
    const headings = [
      "servers.name",
      "servers.address",
      "servers.job",
      "fleet.col.status",
      "servers.sourceLabel",
      "servers.enabled",
      "servers.updated",
    ];
    replace(
      tableBox,
      h(
        "table",
        { class: "data-table", id: "servers-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            headings.map((key) => h("th", { scope: "col" }, t(key))),
            withActions ? h("th", { scope: "col" }, t("common.actions")) : null,
          ),
        ),
        h("tbody", {}, answer.servers.map(row)),
      ),
    );
  }

  await load();
  return null;
}
