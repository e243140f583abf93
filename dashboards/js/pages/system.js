// System: the service's health (stores and collector), fleet statistics, Redis and PostgreSQL statistics
// (operators), and the event log with filters, which can follow new events.

import { get } from "../api.js";
import { h, replace } from "../dom.js";
import { bytes, dateTime, duration, percent, plain } from "../format.js";
import { t } from "../i18n.js";
import { hasRole } from "../session.js";

const LEVELS = ["debug", "info", "warning", "error", "critical"];
const FOLLOW_MS = 5000;
const LOG_PAGE = 100;

function card(title, rows, id) {
  return h(
    "section",
    { class: "card", id },
    h("h3", {}, title),
    h(
      "dl",
      {},
      rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
    ),
  );
}

function state(ok) {
  return h("span", { class: ok ? "ok" : "error" }, ok ? t("system.ok") : t("system.failing"));
}

// The scheduler reports what it has (counts, times, the writers' states): shown generically, readably.
function schedulerValue(key, value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return value ? t("common.yes") : t("common.no");
  if (typeof value === "number" && key.endsWith("_at")) return dateTime(value);
  if (typeof value === "number") return plain(value);
  if (typeof value === "object") {
    return h(
      "span",
      { class: "sub-list" },
      Object.entries(value).map(([k, v]) =>
        h("span", {}, `${k.replaceAll("_", " ")}: ${v === null ? "–" : String(v)}`),
      ),
    );
  }
  return String(value);
}

function healthCards(health) {
  const { postgres, redis, scheduler } = health.components;
  const store = (component) => [
    [t("system.state"), state(component.status === "ok")],
    [
      t("system.latency"),
      component.latency_ms !== undefined ? `${plain(component.latency_ms)} ms` : component.error || "–",
    ],
    [t("system.embedded"), component.embedded ? t("common.yes") : t("common.no")],
  ];
  const collector = Object.entries(scheduler)
    .filter(([key]) => key !== "status")
    .map(([key, value]) => [key.replaceAll("_", " "), schedulerValue(key, value)]);
  return [
    card("PostgreSQL", store(postgres), "health-postgres"),
    card("Redis", store(redis), "health-redis"),
    card(
      t("system.collector"),
      [[t("system.state"), state(scheduler.status === "ok")], ...collector],
      "health-collector",
    ),
    card(
      t("system.service"),
      [
        [t("system.version"), health.version],
        [t("system.state"), state(health.status === "ok")],
      ],
      "health-service",
    ),
  ];
}

function statsCard(stats) {
  return card(
    t("system.fleet"),
    [
      [t("system.servers"), String(stats.servers.total)],
      [t("system.targets"), stats.targets === null ? "–" : `${stats.targets_up ?? "–"} / ${stats.targets}`],
      [t("system.samples"), plain(stats.samples_ingested, 0)],
      [t("system.series"), plain(stats.series_estimate, 0)],
      [t("system.database"), bytes(stats.database_bytes)],
      [t("system.users"), String(stats.users)],
    ],
    "fleet-stats",
  );
}

function redisCard(r) {
  return card(
    t("system.redis"),
    [
      [t("system.version"), r.version],
      [t("system.uptime"), duration(r.uptime_s)],
      [t("system.memory"), `${bytes(r.used_memory_bytes)} (${t("system.peak")} ${bytes(r.used_memory_peak_bytes)})`],
      [t("system.clients"), String(r.connected_clients)],
      [t("system.ops"), plain(r.ops_per_s, 0)],
      [t("system.hitRate"), r.hit_rate === null ? "–" : percent(r.hit_rate * 100)],
      [
        t("system.keys"),
        Object.entries(r.keys)
          .map(([db, n]) => `${db}: ${n}`)
          .join(", ") || "0",
      ],
    ],
    "redis-stats",
  );
}

function postgresCard(p) {
  const largest = [...p.tables].sort((a, b) => b.bytes - a.bytes).slice(0, 5);
  return card(
    t("system.postgres"),
    [
      [t("system.version"), p.server_version],
      [t("system.database"), `${p.database} · ${bytes(p.database_bytes)}`],
      [t("system.connections"), `${Object.values(p.connections).reduce((a, b) => a + b, 0)} / ${p.max_connections}`],
      [
        t("system.bytesPerSample"),
        p.history.chunk_bytes_per_sample === null ? "–" : plain(p.history.chunk_bytes_per_sample),
      ],
      ...largest.map((table) => [
        table.name,
        `${bytes(table.bytes)} · ~${plain(table.rows_estimate, 0)} ${t("system.rows")}`,
      ]),
    ],
    "postgres-stats",
  );
}

function logFilters(onChange) {
  const level = h(
    "select",
    { id: "log-level", "aria-label": t("logs.level") },
    h("option", { value: "" }, t("logs.allLevels")),
    LEVELS.map((l) => h("option", { value: l }, `≥ ${l}`)),
  );
  const source = h("input", { id: "log-source", placeholder: t("logs.source"), "aria-label": t("logs.source") });
  const from = h("input", { id: "log-from", type: "datetime-local", "aria-label": t("logs.from") });
  const to = h("input", { id: "log-to", type: "datetime-local", "aria-label": t("logs.to") });
  const follow = h("input", { id: "log-follow", type: "checkbox", checked: true });
  for (const control of [level, source, from, to, follow]) control.addEventListener("change", onChange);
  const values = () => ({
    level: level.value,
    source: source.value.trim(),
    // datetime-local is the browser's zone; the API wants an instant.
    from: from.value ? Math.floor(new Date(from.value).getTime() / 1000) : "",
    to: to.value ? Math.floor(new Date(to.value).getTime() / 1000) : "",
    limit: LOG_PAGE,
  });
  const box = h(
    "div",
    { class: "toolbar" },
    level,
    source,
    h("label", { for: "log-from", class: "muted small" }, t("logs.from")),
    from,
    h("label", { for: "log-to", class: "muted small" }, t("logs.to")),
    to,
    h("span", { class: "checkbox" }, follow, h("label", { for: "log-follow" }, t("logs.follow"))),
  );
  return { box, values, following: () => follow.checked && !to.value };
}

/** Render the system page into `root`; returns the cleanup. */
export async function render(root) {
  const healthBox = h("div", { class: "cards" });
  const storesBox = h("div", { class: "cards" });
  const logBox = h("div", { class: "table-wrap" });
  const logStatus = h("p", { class: "muted", "aria-live": "polite" });
  let timer = null;
  const filters = logFilters(() => loadLogs());
  replace(
    root,
    h("h1", {}, t("nav.system")),
    h("h2", {}, t("system.health")),
    healthBox,
    h("h2", {}, t("system.stores")),
    storesBox,
    h("h2", {}, t("logs.title")),
    filters.box,
    logStatus,
    logBox,
  );

  async function loadOverview() {
    const calls = [get("/api/health").catch((err) => err), get("/api/stats")];
    if (hasRole("operator")) calls.push(get("/api/monitoring/redis-stats"), get("/api/monitoring/postgres-stats"));
    try {
      const [health, stats, redis, postgres] = await Promise.all(calls);
      replace(
        healthBox,
        health instanceof Error ? h("p", { class: "error" }, health.message) : healthCards(health),
        statsCard(stats),
      );
      replace(
        storesBox,
        redis ? redisCard(redis) : h("p", { class: "muted" }, t("system.operatorsOnly")),
        postgres ? postgresCard(postgres) : null,
      );
    } catch (err) {
      replace(healthBox, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    }
  }

  // Loads overlap (a filter changed while the last one, or the follow timer's, was in flight) and their
  // answers may come back in any order: only the latest load's answer is shown.
  let latestLoad = 0;

  async function loadLogs() {
    clearTimeout(timer);
    const load = ++latestLoad;
    try {
      const page = await get("/api/monitoring/logs", filters.values());
      if (load !== latestLoad) return;
      logStatus.textContent = t("logs.count", { shown: page.events.length, total: page.total });
      replace(
        logBox,
        h(
          "table",
          { class: "data-table", id: "log-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["logs.time", "logs.levelColumn", "logs.source", "logs.server", "logs.message"].map((key) =>
                h("th", { scope: "col" }, t(key)),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            page.events.map((event) =>
              h(
                "tr",
                {},
                h("td", {}, h("time", { datetime: event.at }, dateTime(event.at))),
                h("td", { class: `level-${event.level}` }, event.level),
                // A posted event names its poster, so it is never taken for one the service wrote itself.
                h(
                  "td",
                  {},
                  event.source,
                  event.postedBy
                    ? h("div", { class: "muted small posted-by" }, t("logs.postedBy", { user: event.postedBy }))
                    : null,
                ),
                h(
                  "td",
                  {},
                  event.serverId ? h("a", { href: `#/server/${event.serverId}` }, event.serverId.slice(0, 8)) : "–",
                ),
                h("td", {}, event.message),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (load !== latestLoad) return;
      logStatus.textContent = t("common.loadFailed", { message: err.message });
    }
    if (filters.following()) timer = setTimeout(loadLogs, FOLLOW_MS);
  }

  await Promise.all([loadOverview(), loadLogs()]);
  return () => clearTimeout(timer);
}
