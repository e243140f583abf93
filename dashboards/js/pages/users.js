// Users (administrators): accounts, roles, disabling, password resets, per-server grants; and the
// administrator's own API tokens (a token is shown once, when created).

import { del, explain, get, patch, post, put } from "../api.js";
import { confirmDialog, openDialog } from "../dialog.js";
import { h, replace } from "../dom.js";
import { dateTime } from "../format.js";
import { t } from "../i18n.js";
import { currentAccount } from "../session.js";

const ROLES = ["viewer", "operator", "admin"];

function roleSelect(id, value) {
  const select = h(
    "select",
    { id },
    ROLES.map((role) => h("option", { value: role }, t(`role.${role}`))),
  );
  select.value = value;
  return select;
}

function field(id, label, control) {
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

/** A dialog with a form: `submit(form)` resolves to close, or throws to show its message. */
function formDialog(title, fields, submitLabel, submit) {
  const message = h("p", { class: "error", role: "alert" });
  const form = h("form", { id: "dialog-form" }, fields, message);
  const button = h("button", { type: "submit", form: "dialog-form" }, submitLabel);
  const { close } = openDialog(title, form, { actions: [button] });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    button.disabled = true;
    try {
      if ((await submit()) !== false) close();
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  });
}

/** Render the users page into `root`. */
export async function render(root) {
  const usersBox = h("div", { class: "table-wrap" });
  const tokensBox = h("div", { class: "table-wrap" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  replace(
    root,
    h(
      "div",
      { class: "section-head" },
      h("h1", {}, t("nav.users")),
      h("button", { type: "button", id: "add-user", onclick: addUser }, t("users.add")),
    ),
    status,
    usersBox,
    h(
      "div",
      { class: "section-head" },
      h("h2", {}, t("tokens.title")),
      h("button", { type: "button", id: "add-token", onclick: addToken }, t("tokens.add")),
    ),
    h("p", { class: "muted" }, t("tokens.help")),
    tokensBox,
  );

  function addUser() {
    const username = h("input", { required: true, autocomplete: "off" });
    const password = h("input", { type: "password", required: true, autocomplete: "new-password" });
    const email = h("input", { type: "email" });
    const role = roleSelect("new-user-role", "viewer");
    formDialog(
      t("users.add"),
      [
        field("new-user-name", t("login.username"), username),
        field("new-user-password", t("login.password"), password),
        field("new-user-email", t("users.email"), email),
        h("div", { class: "field" }, h("label", { for: "new-user-role" }, t("users.role")), role),
      ],
      t("common.save"),
      async () => {
        await post("/api/users", {
          username: username.value.trim(),
          password: password.value,
          role: role.value,
          email: email.value.trim() || null,
        });
        loadUsers();
      },
    );
  }

  function resetPassword(user) {
    const password = h("input", { type: "password", required: true, autocomplete: "new-password" });
    formDialog(
      t("users.resetPassword", { name: user.username }),
      [field("reset-password", t("users.newPassword"), password)],
      t("common.save"),
      async () => {
        await patch(`/api/users/${user.id}`, { password: password.value });
      },
    );
  }

  async function editGrants(user) {
    const [detail, servers] = await Promise.all([get(`/api/users/${user.id}`), get("/api/servers", { limit: 1000 })]);
    const granted = new Set(detail.grants);
    const boxes = servers.servers.map((server) => {
      const box = h("input", {
        type: "checkbox",
        id: `grant-${server.id}`,
        value: server.id,
        checked: granted.has(server.id),
      });
      return h(
        "div",
        { class: "checkbox" },
        box,
        h("label", { for: `grant-${server.id}` }, `${server.name} (${server.address || server.hostname})`),
      );
    });
    formDialog(
      t("users.grantsFor", { name: user.username }),
      [
        h("p", { class: "muted" }, user.role === "admin" ? t("users.adminSeesAll") : t("users.grantsHelp")),
        h("div", { class: "grant-list" }, boxes.length ? boxes : t("servers.none")),
      ],
      t("common.save"),
      async () => {
        const ids = boxes
          .map((b) => b.querySelector("input"))
          .filter((input) => input.checked)
          .map((input) => input.value);
        await put(`/api/users/${user.id}/grants`, { server_ids: ids });
      },
    );
  }

  async function change(user, body) {
    try {
      await patch(`/api/users/${user.id}`, body);
      status.textContent = t("common.saved");
    } catch (err) {
      status.textContent = err.message;
    }
    loadUsers();
  }

  async function removeUser(user) {
    if (!(await confirmDialog(t("users.confirmDelete", { name: user.username }), t("common.delete")))) return;
    try {
      await del(`/api/users/${user.id}`);
    } catch (err) {
      status.textContent = err.message;
    }
    loadUsers();
  }

  function userRow(user) {
    const self = currentAccount() && currentAccount().id === user.id;
    const role = roleSelect(`role-${user.id}`, user.role);
    role.setAttribute("aria-label", t("users.roleOf", { name: user.username }));
    role.addEventListener("change", () => change(user, { role: role.value }));
    return h(
      "tr",
      { "data-user": user.username },
      h("td", {}, user.username, self ? h("span", { class: "muted small" }, ` (${t("users.you")})`) : ""),
      h("td", {}, role),
      h("td", {}, user.email || "–"),
      h("td", {}, user.totp_enabled ? t("common.yes") : t("common.no")),
      h("td", {}, user.disabled ? h("span", { class: "error" }, t("users.disabled")) : t("users.active")),
      h("td", {}, dateTime(user.created_at)),
      h(
        "td",
        {},
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => editGrants(user) }, t("users.grants")),
          // One's own password is changed with the current one, not reset (the API refuses it).
          self
            ? null
            : h("button", { type: "button", class: "secondary", onclick: () => resetPassword(user) }, t("users.reset")),
          h(
            "button",
            { type: "button", class: "secondary", onclick: () => change(user, { disabled: !user.disabled }) },
            user.disabled ? t("users.enable") : t("users.disable"),
          ),
          self
            ? null
            : h("button", { type: "button", class: "danger", onclick: () => removeUser(user) }, t("common.delete")),
        ),
      ),
    );
  }

  async function loadUsers() {
    try {
      const answer = await get("/api/users");
      const headings = [
        "login.username",
        "users.role",
        "users.email",
        "users.totp",
        "users.state",
        "users.created",
        "common.actions",
      ];
      replace(
        usersBox,
        h(
          "table",
          { class: "data-table", id: "users-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              headings.map((key) => h("th", { scope: "col" }, t(key))),
            ),
          ),
          h("tbody", {}, answer.users.map(userRow)),
        ),
      );
    } catch (err) {
      replace(usersBox, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    }
  }

  function addToken() {
    const name = h("input", { required: true, maxlength: "100" });
    const role = roleSelect("new-token-role", "viewer");
    const days = h("input", { type: "number", min: "1", max: "1830", placeholder: t("tokens.defaultDays") });
    const result = h("div");
    let created = false;
    formDialog(
      t("tokens.add"),
      [
        field("new-token-name", t("tokens.name"), name),
        h("div", { class: "field" }, h("label", { for: "new-token-role" }, t("users.role")), role),
        field("new-token-days", t("tokens.days"), days),
        result,
      ],
      t("tokens.create"),
      async () => {
        if (created) return true;
        const body = { name: name.value.trim(), role: role.value };
        if (days.value) body.expires_in_s = Number(days.value) * 86400;
        const token = await post("/api/tokens", body);
        created = true;
        replace(result, h("p", {}, t("tokens.once")), h("p", { class: "secret", id: "new-token-value" }, token.token));
        loadTokens();
        return false; // keep the dialog open: the token is shown this one time
      },
    );
  }

  async function revoke(token) {
    if (!(await confirmDialog(t("tokens.confirmRevoke", { name: token.name }), t("tokens.revoke")))) return;
    await del(`/api/tokens/${token.id}`).catch((err) => {
      status.textContent = err.message;
    });
    loadTokens();
  }

  async function loadTokens() {
    try {
      const answer = await get("/api/tokens");
      const headings = [
        "tokens.name",
        "users.role",
        "users.created",
        "tokens.lastUsed",
        "tokens.expires",
        "common.actions",
      ];
      replace(
        tokensBox,
        answer.tokens.length === 0
          ? h("p", { class: "muted" }, t("tokens.none"))
          : h(
              "table",
              { class: "data-table", id: "tokens-table" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  headings.map((key) => h("th", { scope: "col" }, t(key))),
                ),
              ),
              h(
                "tbody",
                {},
                answer.tokens.map((token) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, token.name),
                    h("td", {}, t(`role.${token.role}`)),
                    h("td", {}, dateTime(token.created_at)),
                    h("td", {}, dateTime(token.last_used_at)),
                    h("td", {}, dateTime(token.expires_at)),
                    h(
                      "td",
                      {},
                      h(
                        "button",
                        { type: "button", class: "danger", onclick: () => revoke(token) },
                        t("tokens.revoke"),
                      ),
                    ),
                  ),
                ),
              ),
            ),
      );
    } catch (err) {
      replace(tokensBox, h("p", { class: "error" }, t("common.loadFailed", { message: err.message })));
    }
  }

  await Promise.all([loadUsers(), loadTokens()]);
  return null;
}
