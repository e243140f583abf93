// Hash routes (#/servers, #/server/<id>): the API serves one index.html, so the path stays "/".
//
// A route is a pattern and a page module loader; a page module exports `render(container, params)` that
// may return a cleanup function, called when the user leaves the page (to drop subscriptions and timers).

const routes = [];
let cleanup = null;
let container = null;
let guard = null;
let onNavigate = null;
let generation = 0;

/** Add a route: `pattern` like "/server/:id", `load` a function returning the page module's promise. */
export function route(pattern, load, options = {}) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ pattern, regex: new RegExp(`^${source}$`), names, load, ...options });
}

function match(path) {
  for (const entry of routes) {
    const found = entry.regex.exec(path);
    if (found) {
      const params = Object.fromEntries(entry.names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
      return { entry, params };
    }
  }
  return null;
}

/** The current path, without the "#". */
export function currentPath() {
  return location.hash.replace(/^#/, "") || "/";
}

/** Go to `path` (adds a history entry). */
export function navigate(path) {
  if (currentPath() === path) render();
  else location.hash = path;
}

/** Render the current route again (after a language switch, say). */
export async function render() {
  const path = currentPath();
  const found = match(path) || match("/");
  const redirect = guard ? guard(found.entry) : null;
  if (redirect && redirect !== path) {
    navigate(redirect);
    return;
  }
  const mine = ++generation;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const page = await found.entry.load();
  if (mine !== generation) return; // the user moved on while the module loaded
  container.replaceChildren();
  if (onNavigate) onNavigate(found.entry);
  const done = (await page.render(container, found.params)) || null;
  if (mine === generation) cleanup = done;
  else if (done) done();
}

/**
 * Start routing into `root`. `check(entry)` may return a path to go to instead (the login page when logged
 * out); `navigated(entry)` runs after each page change (to mark the navigation's current link).
 */
export function start(root, { check, navigated }) {
  container = root;
  guard = check;
  onNavigate = navigated;
  window.addEventListener("hashchange", render);
  render();
}
