// The live stream: one EventSource on GET /api/events for the whole app, shared by every view.
//
// EventSource cannot send headers, so the short-lived access token goes in the URL. The browser's own
// reconnection would reuse an expired token, so on any error the stream is closed and reopened here with a
// fresh token, backing off up to 30 s. Views subscribe to "status", "scrape" and "alert" events and to
// "reconnect", sent when the stream is back after a gap (events may have been missed: views resynchronise once).

import { accessToken } from "./session.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
const listeners = {
  status: new Set(),
  scrape: new Set(),
  alert: new Set(),
  reconnect: new Set(),
  state: new Set(),
};

let source = null;
let wanted = false;
let delayMs = FIRST_DELAY_MS;
let timer = null;
let hadGap = false;
let state = "offline";

function setState(next) {
  if (next === state) return;
  state = next;
  for (const listener of listeners.state) listener(next);
}

function dispatch(kind, message) {
  let data;
  try {
    data = JSON.parse(message.data);
  } catch {
    return;
  }
  for (const listener of listeners[kind]) listener(data);
}

async function open() {
  timer = null;
  if (!wanted) return;
  setState("connecting");
  let token;
  try {
    token = await accessToken();
  } catch {
    setState("offline");
    return; // no session: the router is taking the user to the login page
  }
  if (!wanted) return;
  const stream = new EventSource(`/api/events?access_token=${encodeURIComponent(token)}`);
  source = stream;
  stream.addEventListener("open", () => {
    delayMs = FIRST_DELAY_MS;
    setState("live");
    if (hadGap) {
      hadGap = false;
      for (const listener of listeners.reconnect) listener();
    }
  });
  stream.addEventListener("status", (message) => dispatch("status", message));
  stream.addEventListener("scrape", (message) => dispatch("scrape", message));
  stream.addEventListener("alert", (message) => dispatch("alert", message));
  stream.addEventListener("error", () => {
    if (source !== stream) return;
    stream.close();
    source = null;
    hadGap = true;
    setState("offline");
    if (wanted) {
      timer = setTimeout(open, delayMs);
      delayMs = Math.min(delayMs * 2, MAX_DELAY_MS);
    }
  });
}

/** Open the stream (once logged in); a second call does nothing. */
export function connect() {
  if (wanted) return;
  wanted = true;
  open();
}

/** Close the stream (at logout). */
export function disconnect() {
  wanted = false;
  hadGap = false;
  clearTimeout(timer);
  timer = null;
  if (source) source.close();
  source = null;
  setState("offline");
}

/**
 * Listen to `kind`: "status", "scrape" and "alert" (the event's JSON object), "reconnect" (no argument) or
 * "state" ("connecting", "live", "offline"). Returns the unsubscribe function.
 */
export function subscribe(kind, listener) {
  listeners[kind].add(listener);
  return () => listeners[kind].delete(listener);
}

/** The stream's state now: "connecting", "live" or "offline". */
export function streamState() {
  return state;
}
