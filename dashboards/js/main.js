// The application shell: header and navigation, language and theme switches, the session's start and
// end, and the routes. Pages are loaded on first visit (the overview does not load the chart library).

import { get } from "./api.js";
import { h, replace } from "./dom.js";
import { connect, disconnect, streamState, subscribe } from "./events.js";
import { stopFleet } from "./fleet.js";
import { LANGUAGES, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { currentPath, navigate, render, route, start } from "./router.js";
import { currentAccount, hasRole, loggedIn, logout, onSessionEnd, setAccount } from "./session.js";
import { onThemeChange, theme, toggleTheme } from "./theme.js";

const NAV = [
  ["/", "nav.overview", "viewer"],
  ["/servers", "nav.servers", "viewer"],
  ["/alerts", "nav.alerts", "viewer"],
  ["/chat", "nav.chat", "viewer"],
  ["/system", "nav.system", "viewer"],
  ["/cluster", "nav.cluster", "viewer"],
  ["/users", "nav.users", "admin"],
];

const header = document.getElementById("app-header");
const main = document.getElementById("main");
let wanted = "/";

function drawHeader(activePath) {
  const account = currentAccount();
  if (!account) {
    replace(header, h("span", { class: "brand" }, "OpenManager"), languageSelect(), themeButton());
    return;
  }
  const links = NAV.filter(([, , role]) => hasRole(role)).map(([path, label]) =>
    h("a", { href: `#${path}`, "aria-current": path === activePath ? "page" : null }, t(label)),
  );
  const stream = h("span", { class: "stream", id: "stream-state", "data-state": "offline" }, t("stream.offline"));
  replace(
    header,
    h("a", { class: "brand", href: "#/" }, "OpenManager"),
    h("nav", { "aria-label": t("nav.label") }, links),
    h(
      "div",
      { class: "header-tools" },
      stream,
      languageSelect(),
      themeButton(),
      h("span", { class: "who" }, `${account.username} (${t(`role.${account.role}`)})`),
      h("button", { type: "button", class: "secondary", id: "logout", onclick: signOut }, t("nav.logout")),
    ),
  );
}

function languageSelect() {
  const select = h(
    "select",
    { id: "language", "aria-label": t("nav.language"), onchange: (e) => setLanguage(e.target.value) },
    LANGUAGES.map(([code, name]) => h("option", { value: code }, name)),
  );
  select.value = language();
  return select;
}

function themeButton() {
  return h(
    "button",
    { type: "button", class: "secondary", id: "theme", onclick: toggleTheme, "aria-label": t("nav.theme") },
    theme() === "dark" ? t("nav.light") : t("nav.dark"),
  );
}

function showStream(state) {
  const el = document.getElementById("stream-state");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = t(`stream.${state}`);
}

async function signOut() {
  disconnect();
  stopFleet();
  await logout();
}

async function startSession() {
  setAccount(await get("/api/auth/me"));
  connect();
}

async function afterLogin() {
  try {
    await startSession();
  } catch (err) {
    replace(main, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    return;
  }
  navigate(wanted === "/login" ? "/" : wanted);
}

route("/", () => import("./pages/overview.js"));
route("/server/:id", () => import("./pages/server.js"), { nav: "/" });
route("/servers", () => import("./pages/servers.js"));
route("/alerts", () => import("./pages/alerts.js"));
route("/alerts/silences", () => import("./pages/silences.js"), { nav: "/alerts" });
route("/alerts/rules", () => import("./pages/rules.js"), { nav: "/alerts" });
route("/chat", () => import("./pages/chat.js"));
route("/system", () => import("./pages/system.js"));
route("/cluster", () => import("./pages/cluster.js"));
route("/users", () => import("./pages/users.js"), { role: "admin" });
route("/login", async () => {
  const page = await import("./pages/login.js");
  return { render: (root, params) => page.render(root, params, afterLogin) };
});

onSessionEnd(() => {
  disconnect();
  stopFleet();
  render();
});
onLanguageChange(() => render());
onThemeChange(() => {
  const button = document.getElementById("theme");
  if (button) button.textContent = theme() === "dark" ? t("nav.light") : t("nav.dark");
});
subscribe("state", showStream);
// The skip link cannot use its #main target: the hash is the route.
document.querySelector(".skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

async function boot() {
  if (loggedIn()) {
    try {
      await startSession();
    } catch {
      // An expired session ends itself (onSessionEnd); the guard below then shows the login page.
    }
  }
  start(main, {
    check(entry) {
      if (entry.pattern === "/login") return currentAccount() ? "/" : null;
      if (!currentAccount()) {
        wanted = currentPath();
        return "/login";
      }
      return entry.role && !hasRole(entry.role) ? "/" : null;
    },
    navigated(entry) {
      drawHeader(entry.nav || entry.pattern);
      showStream(streamState());
      main.focus({ preventScroll: true });
    },
  });
}

boot();
