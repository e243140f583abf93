// Numbers, sizes, rates and times for display, in the page's language and the browser's time zone.

import { language, t } from "./i18n.js";

const DASH = "–";
const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

function number(value, digits) {
  return new Intl.NumberFormat(language(), { maximumFractionDigits: digits }).format(value);
}

/** 42.5 → "42.5%"; null → "–". */
export function percent(value) {
  return value === null || value === undefined ? DASH : `${number(value, value < 10 ? 1 : 0)}%`;
}

/** 1536 → "1.5 KB" (powers of 1024). */
export function bytes(value) {
  if (value === null || value === undefined) return DASH;
  let unit = 0;
  let scaled = Math.abs(value);
  while (scaled >= 1024 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${value < 0 ? "-" : ""}${number(scaled, scaled < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

/** 1536 → "1.5 KB/s". */
export function rate(value) {
  return value === null || value === undefined ? DASH : `${bytes(value)}/s`;
}

/** A plain number with up to `digits` decimals. */
export function plain(value, digits = 2) {
  return value === null || value === undefined ? DASH : number(value, digits);
}

/** 93784 → "1d 2h" (the two largest units). */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const units = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts = [];
  let rest = Math.floor(seconds);
  for (const [name, size] of units) {
    if (rest >= size || (name === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** Unix seconds (or a Date / ISO text) → date and time in the browser's zone. */
export function dateTime(value) {
  if (value === null || value === undefined) return DASH;
  const date = value instanceof Date ? value : new Date(typeof value === "number" ? value * 1000 : value);
  return new Intl.DateTimeFormat(language(), { dateStyle: "short", timeStyle: "medium" }).format(date);
}

/** Unix seconds → "5 s ago", "3 min ago", in the page's language. */
export function ago(unixSeconds, nowMs = Date.now()) {
  if (unixSeconds === null || unixSeconds === undefined) return DASH;
  const seconds = Math.round(nowMs / 1000 - unixSeconds);
  const format = new Intl.RelativeTimeFormat(language(), { numeric: "auto", style: "short" });
  if (Math.abs(seconds) < 60) return format.format(-seconds, "second");
  if (Math.abs(seconds) < 3600) return format.format(-Math.round(seconds / 60), "minute");
  if (Math.abs(seconds) < 86400) return format.format(-Math.round(seconds / 3600), "hour");
  return format.format(-Math.round(seconds / 86400), "day");
}

/** The translated name of a status word (up, warning, down, unknown). */
export function statusLabel(status) {
  return t(`status.${status}`);
}
