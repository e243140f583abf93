// Fleet overview: servers per status, and every server's live numbers in one list that can be searched,
// filtered by status and label, and sorted. The list is virtual (only the rows on screen exist), so a fleet
// of thousands renders and updates as cheaply as a screenful; updates come from the fleet store, which
// follows the event stream.

import { recentAlertsPanel } from "../alerts.js";
import { allServers, counts, onFleetChange, startFleet } from "../fleet.js";
import { h, replace, setText } from "../dom.js";
import { percent, rate, statusLabel } from "../format.js";
import { t } from "../i18n.js";
import { drawSparkline, sparkCanvas } from "../sparkline.js";
import { cssVar, onThemeChange } from "../theme.js";

const ROW_HEIGHT_PX = 48;
const OVERSCAN_ROWS = 6;
const STATUSES = ["up", "warning", "down", "unknown"];
const SEVERITY = { down: 0, warning: 1, unknown: 2, up: 3 };
const SORTS = {
  name: (s) => s.name.toLowerCase(),
  status: (s) => SEVERITY[s.status] ?? 2,
  cpu: (s) => s.summary.cpu ?? -1,
  memory: (s) => s.summary.memory ?? -1,
  disk: (s) => s.summary.disk ?? -1,
  network: (s) => (s.summary.network_rx ?? -1) + (s.summary.network_tx ?? 0),
};
const COLUMNS = [
  ["status", "fleet.col.status"],
  ["name", "fleet.col.name"],
  ["cpu", "metric.cpu"],
  ["memory", "metric.memory"],
  ["disk", "metric.disk"],
  ["network", "metric.network"],
];

// Kept across visits, so coming back to the overview finds the same view.
const view = { search: "", status: "", label: "", sort: "name", descending: false };
let marked = false;

function matches(server, search, labelName, labelValue) {
  if (view.status && server.status !== view.status) return false;
  if (search) {
    const hay = `${server.name}\n${server.instance}\n${server.server_id}`.toLowerCase();
    if (!hay.includes(search)) return false;
  }
  if (labelName) {
    const value = server.labels[labelName];
    if (value === undefined || (labelValue !== null && value !== labelValue)) return false;
  }
  return true;
}

function visibleServers() {
  const search = view.search.trim().toLowerCase();
  const [labelName, labelValue] = view.label.includes("=")
    ? [view.label.slice(0, view.label.indexOf("=")).trim(), view.label.slice(view.label.indexOf("=") + 1).trim()]
    : [view.label.trim(), null];
  const key = SORTS[view.sort];
  const sign = view.descending ? -1 : 1;
  return allServers()
    .filter((s) => matches(s, search, labelName, labelValue))
    .sort((a, b) => {
      const x = key(a);
      const y = key(b);
      if (x < y) return -sign;
      if (x > y) return sign;
      return a.name.localeCompare(b.name);
    });
}

function level(value) {
  if (value === null || value === undefined) return "";
  return value >= 90 ? "crit" : value >= 75 ? "warn" : "";
}

function makeRow() {
  const dot = h("span", { class: "dot", "aria-hidden": "true" });
  const statusText = h("span");
  const link = h("a", { class: "server-link" });
  const instance = h("span", { class: "muted small" });
  const cells = {
    cpu: h("span", { class: "num" }),
    memory: h("span", { class: "num" }),
    disk: h("span", { class: "num" }),
    network: h("span", { class: "num small" }),
  };
  const canvas = sparkCanvas(96, 28, t("fleet.spark"));
  const el = h(
    "div",
    { class: "fleet-row", role: "row" },
    h("span", { role: "cell", class: "cell-status" }, dot, statusText),
    h("span", { role: "cell", class: "cell-name" }, link, instance),
    h("span", { role: "cell", class: "cell-cpu" }, cells.cpu),
    h("span", { role: "cell", class: "cell-memory" }, cells.memory),
    h("span", { role: "cell", class: "cell-disk" }, cells.disk),
    h("span", { role: "cell", class: "cell-network" }, cells.network),
    h("span", { role: "cell", class: "cell-spark" }, canvas),
  );
  return { el, dot, statusText, link, instance, cells, canvas, serverId: null, sparkVersion: -1 };
}

function fillRow(row, server, sparkColor, force) {
  const s = server.summary;
  row.el.dataset.status = server.status;
  row.el.dataset.serverId = server.server_id;
  setText(row.statusText, statusLabel(server.status));
  if (row.serverId !== server.server_id) {
    row.link.href = `#/server/${encodeURIComponent(server.server_id)}`;
    row.serverId = server.server_id;
    row.sparkVersion = -1;
  }
  setText(row.link, server.name);
  setText(row.instance, server.instance);
  for (const metric of ["cpu", "memory", "disk"]) {
    setText(row.cells[metric], percent(s[metric]));
    row.cells[metric].className = `num ${level(s[metric])}`;
  }
  setText(row.cells.network, `↓ ${rate(s.network_rx)} ↑ ${rate(s.network_tx)}`);
  if (force || row.sparkVersion !== server.sparkVersion) {
    drawSparkline(row.canvas, server.spark, sparkColor);
    row.sparkVersion = server.sparkVersion;
  }
}

/** Render the overview into `root`; returns the cleanup. */
export async function render(root) {
  const countEls = {};
  const cards = h(
    "div",
    { class: "count-cards", role: "group", "aria-label": t("fleet.counts") },
    STATUSES.map((status) => {
      countEls[status] = h("span", { class: "count-value" }, "–");
      return h(
        "button",
        {
          type: "button",
          class: `count-card status-${status}`,
          "aria-pressed": String(view.status === status),
          "data-status": status,
          onclick: () => {
            view.status = view.status === status ? "" : status;
            statusSelect.value = view.status;
            refresh(true);
          },
        },
        countEls[status],
        h("span", { class: "count-label" }, statusLabel(status)),
      );
    }),
  );
  const search = h("input", {
    type: "search",
    id: "fleet-search",
    value: view.search,
    placeholder: t("fleet.search"),
    "aria-label": t("fleet.search"),
    oninput: (e) => {
      view.search = e.target.value;
      refresh(true);
    },
  });
  const statusSelect = h(
    "select",
    {
      id: "fleet-status",
      "aria-label": t("fleet.filterStatus"),
      onchange: (e) => {
        view.status = e.target.value;
        refresh(true);
      },
    },
    h("option", { value: "" }, t("fleet.allStatuses")),
    STATUSES.map((status) => h("option", { value: status }, statusLabel(status))),
  );
  statusSelect.value = view.status;
  const labelList = h("datalist", { id: "fleet-labels" });
  const labelInput = h("input", {
    type: "text",
    id: "fleet-label",
    list: "fleet-labels",
    value: view.label,
    placeholder: t("fleet.label"),
    "aria-label": t("fleet.label"),
    oninput: (e) => {
      view.label = e.target.value;
      refresh(true);
    },
  });
  const shown = h("span", { class: "muted", "aria-live": "polite" });
  const headCells = COLUMNS.map(([key, label]) => {
    const button = h("button", { type: "button", class: "sort", onclick: () => sortBy(key) }, t(label));
    return h("span", { role: "columnheader", class: `cell-${key}`, "data-sort": key }, button);
  });
  const head = h(
    "div",
    { class: "fleet-row fleet-head", role: "row" },
    headCells,
    h("span", { role: "columnheader", class: "cell-spark" }, t("fleet.col.trend")),
  );
  const rowsBox = h("div", { class: "fleet-rows", role: "rowgroup" });
  const empty = h("p", { class: "empty", hidden: true });
  const table = h("div", { class: "fleet", role: "table", "aria-label": t("fleet.title") }, head, rowsBox);

  const recent = recentAlertsPanel();
  replace(
    root,
    h("h1", {}, t("fleet.title")),
    cards,
    recent.el,
    h("div", { class: "toolbar" }, search, statusSelect, labelInput, labelList, shown),
    table,
    empty,
  );

  let list = [];
  const pool = [];
  let sparkColor = cssVar("--accent");

  function sortBy(key) {
    if (view.sort === key) view.descending = !view.descending;
    else {
      view.sort = key;
      view.descending = key !== "name" && key !== "status";
    }
    refresh(true);
  }

  function markSort() {
    for (const cell of headCells) {
      const active = cell.dataset.sort === view.sort;
      if (active) cell.setAttribute("aria-sort", view.descending ? "descending" : "ascending");
      else cell.removeAttribute("aria-sort");
    }
  }

  function paintRows(force) {
    const top = rowsBox.getBoundingClientRect().top;
    const first = Math.max(0, Math.floor(-top / ROW_HEIGHT_PX) - OVERSCAN_ROWS);
    const count = Math.ceil(window.innerHeight / ROW_HEIGHT_PX) + 2 * OVERSCAN_ROWS;
    const last = Math.min(list.length, first + count);
    while (pool.length < last - first) {
      const row = makeRow();
      pool.push(row);
      rowsBox.append(row.el);
    }
    pool.forEach((row, i) => {
      const index = first + i;
      if (index < last) {
        row.el.hidden = false;
        row.el.style.transform = `translateY(${index * ROW_HEIGHT_PX}px)`;
        row.el.setAttribute("aria-rowindex", String(index + 2));
        fillRow(row, list[index], sparkColor, force);
      } else {
        row.el.hidden = true;
      }
    });
  }

  function refresh(force = false) {
    list = visibleServers();
    const c = counts();
    for (const status of STATUSES) {
      setText(countEls[status], c[status]);
      cards.querySelector(`[data-status="${status}"]`).setAttribute("aria-pressed", String(view.status === status));
    }
    setText(shown, t("fleet.shown", { shown: list.length, total: c.total }));
    rowsBox.style.height = `${list.length * ROW_HEIGHT_PX}px`;
    table.setAttribute("aria-rowcount", String(list.length + 1));
    empty.hidden = list.length > 0;
    setText(empty, c.total === 0 ? t("fleet.none") : t("fleet.noMatch"));
    markSort();
    paintRows(force);
  }

  function fillLabels() {
    const pairs = new Set();
    for (const server of allServers()) {
      for (const [name, value] of Object.entries(server.labels)) {
        if (name !== "name" && pairs.size < 200) pairs.add(`${name}=${value}`);
      }
    }
    replace(
      labelList,
      [...pairs].sort().map((pair) => h("option", { value: pair })),
    );
  }

  const loading = h("p", { class: "muted" }, t("common.loading"));
  root.append(loading);
  try {
    await startFleet();
  } catch (err) {
    replace(loading, t("common.loadFailed", { message: err.message }));
    loading.className = "error";
    return recent.stop;
  }
  loading.remove();
  fillLabels();
  refresh(true);
  if (!marked) {
    marked = true;
    performance.mark("om:overview-interactive");
  }

  let scrollFrame = 0;
  const onScroll = () => {
    if (scrollFrame) return;
    scrollFrame = requestAnimationFrame(() => {
      scrollFrame = 0;
      paintRows(false);
    });
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", onScroll);
  const stopFleet = onFleetChange(() => refresh(false));
  const stopTheme = onThemeChange(() => {
    sparkColor = cssVar("--accent");
    paintRows(true);
  });
  return () => {
    window.removeEventListener("scroll", onScroll);
    window.removeEventListener("resize", onScroll);
    cancelAnimationFrame(scrollFrame);
    stopFleet();
    stopTheme();
    recent.stop();
  };
}
