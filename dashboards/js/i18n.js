// Korean and English: the browser's language decides until the user picks one, which is remembered.

import en from "./i18n/en.js";
import ko from "./i18n/ko.js";

const CATALOGS = { en, ko };
const STORAGE_KEY = "om.lang";
const listeners = new Set();

export const LANGUAGES = [
  ["en", "English"],
  ["ko", "한국어"],
];

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in CATALOGS) return base;
  }
  return "en";
}

let current = CATALOGS[localStorage.getItem(STORAGE_KEY)] ? localStorage.getItem(STORAGE_KEY) : browserLanguage();
document.documentElement.lang = current;

/** The language in use: "en" or "ko". */
export function language() {
  return current;
}

/** Switch language, remember the choice and tell listeners (pages re-render). */
export function setLanguage(lang) {
  if (!(lang in CATALOGS) || lang === current) return;
  current = lang;
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
  for (const listener of listeners) listener(lang);
}

/** Call `listener(lang)` after every switch; returns the unsubscribe function. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The message `key` with `{name}` placeholders filled from `vars`; English, then the key, as fallbacks. */
export function t(key, vars = {}) {
  const text = CATALOGS[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}
