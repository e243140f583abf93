// Light and dark themes: the system's preference until the user picks one, which is remembered.

const STORAGE_KEY = "om.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set();

function effective() {
  const chosen = localStorage.getItem(STORAGE_KEY);
  if (chosen === "light" || chosen === "dark") return chosen;
  return media.matches ? "dark" : "light";
}

function apply() {
  const theme = effective();
  document.documentElement.dataset.theme = theme;
  for (const listener of listeners) listener(theme);
}

/** The theme in use: "light" or "dark". */
export function theme() {
  return document.documentElement.dataset.theme || effective();
}

/** Switch between light and dark and remember the choice. */
export function toggleTheme() {
  localStorage.setItem(STORAGE_KEY, theme() === "dark" ? "light" : "dark");
  apply();
}

/** Call `listener(theme)` on every change (charts redraw with the new colours); returns the unsubscribe. */
export function onThemeChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The value of a CSS custom property of the current theme (charts draw on canvas, outside CSS). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

media.addEventListener("change", apply);
apply();
