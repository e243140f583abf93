// The fleet's live state: loaded once from GET /api/monitoring/servers, then kept current by the event
// stream alone (no polling). Scrape events update a server's summary and its sparkline; status events its
// status. An event for a server not in the list (one that just appeared) costs one filtered read of that
// server. The listing may lag the stream by a moment (the API answers from a snapshot), so a miss is
// retried on later events, spaced out; after a few misses the server is taken as foreign to the list
// (deleted meanwhile, say) and ignored for a while. After a gap in the stream the list is read once again.
//
// Changes are batched: listeners are called at most once per animation frame with the set of changed ids.

import { get } from "./api.js";
import { subscribe } from "./events.js";

export const SPARK_POINTS = 60;
const DISCOVER_DELAY_MS = 250;
const DISCOVER_ONE_BY_ONE = 20;
const RETRY_AFTER_MS = 2000;
const MISSES_BEFORE_FOREIGN = 4;
const FOREIGN_FOR_MS = 10 * 60_000;

const servers = new Map();
const misses = new Map(); // id → {count, retryAt}: reads that did not find the server yet
const pending = new Set();
const listeners = new Set();
let changed = new Set();
let frame = 0;
let loaded = null;
let unsubscribers = [];
let unknown = new Set();
let discoverTimer = 0;

function notify(id) {
  changed.add(id);
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const ids = changed;
    changed = new Set();
    for (const listener of listeners) listener(ids);
  });
}

function adopt(row, previous) {
  const spark = previous ? previous.spark : [];
  if (!previous && row.summary.cpu !== null && row.summary.cpu !== undefined) spark.push(row.summary.cpu);
  return { ...row, spark, sparkVersion: previous ? previous.sparkVersion : 0 };
}

async function read() {
  const answer = await get("/api/monitoring/servers");
  const seen = new Set();
  for (const row of answer.servers) {
    seen.add(row.server_id);
    servers.set(row.server_id, adopt(row, servers.get(row.server_id)));
    misses.delete(row.server_id);
    notify(row.server_id);
  }
  for (const id of [...servers.keys()]) {
    if (!seen.has(id)) {
      servers.delete(id);
      notify(id);
    }
  }
}

function waiting(id) {
  const miss = misses.get(id);
  return pending.has(id) || (miss !== undefined && Date.now() < miss.retryAt);
}

function missed(id) {
  const count = (misses.get(id)?.count ?? 0) + 1;
  const delayMs = count >= MISSES_BEFORE_FOREIGN ? FOREIGN_FOR_MS : RETRY_AFTER_MS * count;
  misses.set(id, { count: count >= MISSES_BEFORE_FOREIGN ? 0 : count, retryAt: Date.now() + delayMs });
}

// Unknown ids are gathered for a moment: a burst of new servers (a collector starting) is one list read.
function noticeUnknown(id) {
  if (waiting(id)) return;
  unknown.add(id);
  discoverTimer ||= setTimeout(() => {
    discoverTimer = 0;
    const ids = unknown;
    unknown = new Set();
    if (ids.size > DISCOVER_ONE_BY_ONE) {
      read()
        .then(() => ids.forEach((each) => servers.has(each) || missed(each)))
        .catch(() => {});
    } else {
      ids.forEach(discover);
    }
  }, DISCOVER_DELAY_MS);
}

async function discover(id) {
  if (pending.has(id)) return;
  pending.add(id);
  try {
    const row = await fetchServer(id);
    if (row) {
      misses.delete(id);
      servers.set(id, adopt(row, servers.get(id)));
      notify(id);
    } else {
      missed(id);
    }
  } catch {
    // A failed read is retried by the server's next event.
  } finally {
    pending.delete(id);
  }
}

function onScrape(event) {
  const server = servers.get(event.server_id);
  if (!server) {
    noticeUnknown(event.server_id);
    return;
  }
  if (server.last_scrape !== null && event.ts <= server.last_scrape) return; // a resent duplicate
  server.last_scrape = event.ts;
  server.status = event.status;
  server.summary = { ...server.summary, ...event.summary };
  if (!event.up) server.summary = {};
  if (event.summary && event.summary.cpu !== undefined && event.summary.cpu !== null) {
    server.spark.push(event.summary.cpu);
    if (server.spark.length > SPARK_POINTS) server.spark.shift();
    server.sparkVersion += 1;
  }
  notify(server.server_id);
}

function onStatus(event) {
  const server = servers.get(event.server_id);
  if (!server) {
    noticeUnknown(event.server_id);
    return;
  }
  server.status = event.status;
  server.last_error = event.error ?? null;
  notify(server.server_id);
}

/** One server's listing row, read now (not from the fleet held here); undefined when there is none. */
export async function fetchServer(id) {
  const answer = await get("/api/monitoring/servers", { name: id });
  return answer.servers.find((s) => s.server_id === id);
}

/** Load the fleet and follow the stream; resolves when the first list is in. Later calls share the load. */
export function startFleet() {
  if (!loaded) {
    unsubscribers = [
      subscribe("scrape", onScrape),
      subscribe("status", onStatus),
      subscribe("reconnect", () => read().catch(() => {})),
    ];
    loaded = read().catch((err) => {
      loaded = null;
      for (const unsubscribe of unsubscribers) unsubscribe();
      throw err;
    });
  }
  return loaded;
}

/** Forget everything (at logout). */
export function stopFleet() {
  for (const unsubscribe of unsubscribers) unsubscribe();
  unsubscribers = [];
  servers.clear();
  misses.clear();
  unknown.clear();
  clearTimeout(discoverTimer);
  discoverTimer = 0;
  loaded = null;
}

/** Every server, in no particular order. */
export function allServers() {
  return [...servers.values()];
}

/** One server, or undefined. */
export function serverById(id) {
  return servers.get(id);
}

/** Servers per status: {up, warning, down, unknown, total}. */
export function counts() {
  const result = { up: 0, warning: 0, down: 0, unknown: 0, total: servers.size };
  for (const server of servers.values()) result[server.status in result ? server.status : "unknown"] += 1;
  return result;
}

/** Call `listener(changedIds)` after changes, at most once per frame; returns the unsubscribe function. */
export function onFleetChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
