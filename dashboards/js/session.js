// The login session: token pair in sessionStorage (this tab only, survives a reload), refreshed before the
// access token expires, one refresh at a time; and the caller's account from /api/auth/me.

import { ApiError, send } from "./http.js";

const STORAGE_KEY = "om.session";
const EARLY_REFRESH_MS = 30_000;
const listeners = new Set();

let tokens = load();
let refreshing = null;
let account = null;

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    return saved && saved.access && saved.refresh ? saved : null;
  } catch {
    return null;
  }
}

function store(pair) {
  tokens = {
    access: pair.access_token,
    refresh: pair.refresh_token,
    expiresAt: Date.now() + pair.expires_in * 1000,
  };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
}

function clear() {
  tokens = null;
  account = null;
  sessionStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener(null);
}

/** Whether there is a session to use (it may still turn out to be expired). */
export function loggedIn() {
  return tokens !== null;
}

/** Call `listener(null)` when the session ends (logout, expiry, a refused refresh). */
export function onSessionEnd(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Log in. Rejects with ApiError; code "totp_required" means the account needs a TOTP code: ask for it and
 * call again with `totp`; "password_change_required" means it must replace its password first: ask for a
 * new one and call again with `newPassword`.
 */
export async function login(username, password, totp, newPassword) {
  const body = { username, password };
  if (totp) body.totp = totp;
  if (newPassword) body.new_password = newPassword;
  store(await send("POST", "/api/auth/login", { body }));
  account = null;
}

/** Spend the refresh token for a new pair (shared by concurrent callers); ends the session when refused. */
export function refresh() {
  if (!tokens) return Promise.reject(new ApiError(401, "unauthorized", "not logged in"));
  refreshing ??= send("POST", "/api/auth/refresh", { body: { refresh_token: tokens.refresh } })
    .then(store)
    .catch((err) => {
      if (err.status === 401) clear();
      throw err;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** A valid access token, refreshed first when it expires within 30 s; rejects when there is no session. */
export async function accessToken() {
  if (!tokens) throw new ApiError(401, "unauthorized", "not logged in");
  if (tokens.expiresAt - Date.now() < EARLY_REFRESH_MS) await refresh();
  return tokens.access;
}

/** End the session on the server (access token and refresh family) and here. */
export async function logout() {
  if (tokens) {
    try {
      await send("POST", "/api/auth/logout", { token: tokens.access, body: { refresh_token: tokens.refresh } });
    } catch {
      // Ending the session here matters more than the server's answer (it may already be expired).
    }
  }
  clear();
}

/** The session has expired in a way a refresh cannot fix. */
export function expire() {
  clear();
}

/** Remember the caller's account, as /api/auth/me answers it: {id, username, role, totp_enabled, grants}. */
export function setAccount(value) {
  account = value;
}

/** The logged-in account, or null before it is read. */
export function currentAccount() {
  return account;
}

const RANK = { viewer: 0, operator: 1, admin: 2 };

/** Whether the logged-in account's role is at least `role`. */
export function hasRole(role) {
  return account !== null && RANK[account.role] >= RANK[role];
}
