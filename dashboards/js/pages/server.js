// One server: current values, charts of CPU, memory, disk, network and load over a chosen time range
// (15 minutes to 30 days) that grow live from the event stream, its top processes, and its remote actions
// (actions.js).
//
// History comes from GET /api/monitoring/performance (one call per metric; load from the raw history of the
// server's node_load1 series).

import { serverActionsSection } from "../actions.js";
import { serverAlertsSection } from "../alerts.js";
import { get } from "../api.js";
import { ChartGroup, timeChart } from "../charts.js";
import { h, replace, setText } from "../dom.js";
import { subscribe } from "../events.js";
import { fetchServer } from "../fleet.js";
import { serverSettingsSection } from "../server_settings.js";
import { ago, bytes, duration, percent, plain, rate, statusLabel } from "../format.js";
import { t } from "../i18n.js";
import { onThemeChange } from "../theme.js";

const RANGES = [
  ["15m", 900],
  ["1h", 3600],
  ["6h", 21600],
  ["24h", 86400],
  ["7d", 604800],
  ["30d", 2592000],
];
const PROCESS_REFRESH_MS = 5000;
let rangeS = 3600;

const CHARTS = [
  { id: "cpu", title: "metric.cpu", metrics: ["cpu"], percent: true },
  { id: "memory", title: "metric.memory", metrics: ["memory"], percent: true },
  { id: "disk", title: "metric.disk", metrics: ["disk"], percent: true },
  { id: "network", title: "metric.network", metrics: ["network_rx", "network_tx"], percent: false },
  { id: "load", title: "metric.load", metrics: ["load1"], percent: false },
];
const SERIES_LABELS = {
  cpu: "metric.cpu",
  memory: "metric.memory",
  disk: "metric.disk",
  network_rx: "metric.rx",
  network_tx: "metric.tx",
  load1: "metric.load1",
};
const SERIES_COLORS = ["--accent", "--series-2"];

/** [times, ...values] from per-metric point lists, aligned on time; a gap over 2.5 steps becomes a null. */
export function align(pointLists, stepS) {
  const times = [...new Set(pointLists.flatMap((points) => points.map(([time]) => time)))].sort((a, b) => a - b);
  const columns = pointLists.map((points) => {
    const byTime = new Map(points);
    return times.map((time) => byTime.get(time) ?? null);
  });
  const outTimes = [];
  const outColumns = columns.map(() => []);
  times.forEach((time, i) => {
    if (i > 0 && time - times[i - 1] > stepS * 2.5) {
      outTimes.push(times[i - 1] + stepS);
      for (const column of outColumns) column.push(null);
    }
    outTimes.push(time);
    columns.forEach((column, c) => outColumns[c].push(column[i]));
  });
  return [outTimes, ...outColumns];
}

function currentCards(live) {
  const s = live.summary || {};
  const items = [
    ["metric.cpu", percent(s.cpu)],
    ["metric.memory", percent(s.memory)],
    ["metric.disk", percent(s.disk)],
    ["metric.rx", rate(s.network_rx)],
    ["metric.tx", rate(s.network_tx)],
    ["metric.load1", plain(s.load1)],
    ["server.uptime", duration(s.uptime_s)],
  ];
  return items.map(([label, value]) =>
    h(
      "div",
      { class: "stat" },
      h("span", { class: "stat-label" }, t(label)),
      h("span", { class: "stat-value" }, value),
    ),
  );
}

function processTable(caption, rows) {
  return h(
    "table",
    { class: "data-table" },
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "PID"),
        h("th", { scope: "col" }, t("process.name")),
        h("th", { scope: "col", class: "num" }, t("metric.cpu")),
        h("th", { scope: "col", class: "num" }, t("process.memory")),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: "4", class: "muted" }, t("process.none")))
        : rows.map((p) =>
            h(
              "tr",
              {},
              h("td", {}, p.pid),
              h("td", {}, p.name),
              h("td", { class: "num" }, p.cpu_percent === null ? "–" : `${plain(p.cpu_percent, 1)}%`),
              h("td", { class: "num" }, bytes(p.resident_memory_bytes)),
            ),
          ),
    ),
  );
}

/** Render the server page into `root`; returns the cleanup. */
export async function render(root, { id }) {
  const cleanups = [];
  const title = h("h1", {}, "…");
  const badge = h("span", { class: "badge" });
  const meta = h("p", { class: "muted meta" });
  const stats = h("div", { class: "stats", "aria-live": "off" });
  const zoomReset = h(
    "button",
    { type: "button", class: "secondary", hidden: true, onclick: () => group.resetZoom() },
    t("server.resetZoom"),
  );
  const rangeButtons = RANGES.map(([label, seconds]) =>
    h(
      "button",
      {
        type: "button",
        class: "range",
        "aria-pressed": String(seconds === rangeS),
        "data-range": label,
        onclick: (e) => {
          rangeS = seconds;
          for (const b of rangeButtons) b.setAttribute("aria-pressed", String(b === e.currentTarget));
          loadHistory();
        },
      },
      label,
    ),
  );
  const picker = h(
    "div",
    { class: "range-picker", role: "group", "aria-label": t("server.range") },
    rangeButtons,
    zoomReset,
  );
  const chartsBox = h("div", { class: "charts" });
  const processesBox = h("section", { class: "processes", "aria-labelledby": "processes-title" });
  replace(
    root,
    h("p", {}, h("a", { href: "#/" }, `← ${t("nav.overview")}`)),
    h("div", { class: "title-row" }, title, badge),
    meta,
    stats,
    h("div", { class: "section-head" }, h("h2", {}, t("server.history")), picker),
    chartsBox,
    processesBox,
  );

  let live;
  try {
    live = await fetchServer(id);
  } catch (err) {
    replace(root, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    return null;
  }
  if (!live) {
    replace(root, h("p", { class: "error" }, t("server.notFound")), h("a", { href: "#/" }, t("nav.overview")));
    return null;
  }
  const alerts = serverAlertsSection(id);
  chartsBox.after(alerts.el);
  cleanups.push(alerts.stop);
  const actions = serverActionsSection(id, live.name);
  processesBox.after(actions.el);
  cleanups.push(actions.stop);
  const settings = serverSettingsSection(id);
  actions.el.after(settings.el);
  cleanups.push(settings.stop);

  function showLive() {
    setText(title, live.name);
    badge.className = `badge status-${live.status}`;
    badge.dataset.status = live.status;
    setText(badge, statusLabel(live.status));
    const labels = Object.entries(live.labels)
      .filter(([name]) => name !== "name")
      .map(([name, value]) => `${name}=${value}`);
    replace(
      meta,
      `${live.instance} · ${live.job}`,
      labels.length ? ` · ${labels.join(", ")}` : "",
      ` · ${t("server.lastScrape")} `,
      h(
        "time",
        { datetime: live.last_scrape ? new Date(live.last_scrape * 1000).toISOString() : "" },
        ago(live.last_scrape),
      ),
      live.last_error ? h("span", { class: "error" }, ` · ${live.last_error}`) : "",
    );
    replace(stats, currentCards(live));
  }
  showLive();

  const group = new ChartGroup(`server-${id}`, (zoomed) => {
    zoomReset.hidden = !zoomed;
  });
  let charts = [];
  let histories = {};

  function buildCharts() {
    for (const chart of charts) chart.chart.destroy();
    replace(chartsBox);
    charts = CHARTS.map((spec) => {
      const plotBox = h("div", { class: "chart", "data-chart": spec.id });
      chartsBox.append(
        h(
          "figure",
          { class: "chart-card" },
          h("figcaption", {}, t(spec.title)),
          plotBox,
        ),
      );
      const format = spec.percent ? (v) => percent(v) : spec.id === "network" ? (v) => rate(v) : (v) => plain(v);
      const chart = timeChart(plotBox, {
        group,
        format,
        range: spec.percent ? [0, 100] : null,
        series: spec.metrics.map((metric, i) => ({ label: t(SERIES_LABELS[metric]), color: SERIES_COLORS[i] })),
      });
      return { spec, chart };
    });
  }

  function draw() {
    const now = Date.now() / 1000;
    for (const { spec, chart } of charts) {
      chart.setData(
        align(
          spec.metrics.map((m) => histories[m] || []),
          histories.stepS || 15,
        ),
        [now - rangeS, now],
      );
    }
  }

  let loadSeq = 0;
  async function loadHistory() {
    const seq = ++loadSeq;
    const now = Date.now() / 1000;
    const from = Math.floor(now - rangeS);
    const metrics = ["cpu", "memory", "disk", "network_rx", "network_tx", "load1"];
    try {
      const answers = await Promise.all(
        metrics.map((metric) => get("/api/monitoring/performance", { serverId: id, metric, from, to: Math.ceil(now) })),
      );
      if (seq !== loadSeq) return;
      const next = { stepS: answers[0].step };
      metrics.forEach((metric, i) => {
        next[metric] = answers[i].points;
      });
      histories = next;
      group.zoomed = false;
      zoomReset.hidden = true;
      draw();
    } catch (err) {
      chartsBox.prepend(h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    }
  }

  let processTimer = null;
  let processesAt = 0;
  async function loadProcesses() {
    processTimer = null;
    processesAt = Date.now();
    try {
      const top = await get("/api/monitoring/processes", { serverId: id });
      replace(
        processesBox,
        h(
          "h2",
          { id: "processes-title" },
          t("process.title"),
          top.processes !== null
            ? h("span", { class: "muted small" }, ` (${t("process.count", { count: top.processes })})`)
            : "",
        ),
        h(
          "div",
          { class: "process-tables" },
          processTable(t("process.byCpu"), top.by_cpu),
          processTable(t("process.byMemory"), top.by_memory),
        ),
      );
    } catch (err) {
      replace(
        processesBox,
        h("h2", { id: "processes-title" }, t("process.title")),
        h("p", { class: "muted" }, err.status === 404 ? t("process.none") : err.message),
      );
    }
  }

  function onScrape(event) {
    if (event.server_id !== id) return;
    live.last_scrape = event.ts;
    live.status = event.status;
    live.summary = event.up ? { ...live.summary, ...event.summary } : {};
    showLive();
    const from = Date.now() / 1000 - rangeS;
    for (const metric of ["cpu", "memory", "disk", "network_rx", "network_tx", "load1"]) {
      const value = event.summary ? event.summary[metric] : undefined;
      if (value === undefined || value === null) continue;
      const points = (histories[metric] || []).filter(([time]) => time >= from);
      if (!points.length || points[points.length - 1][0] < event.ts) points.push([event.ts, value]);
      histories[metric] = points;
    }
    draw();
    if (!processTimer)
      processTimer = setTimeout(loadProcesses, Math.max(0, PROCESS_REFRESH_MS - (Date.now() - processesAt)));
  }

  function onStatus(event) {
    if (event.server_id !== id) return;
    live.status = event.status;
    live.last_error = event.error ?? null;
    showLive();
  }

  buildCharts();
  cleanups.push(
    subscribe("scrape", onScrape),
    subscribe("status", onStatus),
    onThemeChange(() => {
      buildCharts();
      draw();
    }),
    () => clearTimeout(processTimer),
    () => charts.forEach(({ chart }) => chart.destroy()),
  );
  await Promise.all([loadHistory(), loadProcesses()]);
  return () => cleanups.forEach((cleanup) => cleanup());
}
