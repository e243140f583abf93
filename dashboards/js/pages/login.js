// Login: username and password, then a TOTP code when the account has one (the API answers
// "totp_required" and the form asks for the code, keeping what was typed), then a new password when the
// account must replace its password first (the API answers "password_change_required": the first
// administrator's generated one) and the form asks for it twice.

import { h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { login } from "../session.js";

const MESSAGES = {
  invalid_credentials: "login.invalid",
  invalid_totp: "login.invalidTotp",
  too_many_attempts: "login.throttled",
  password_unchanged: "login.unchanged",
};

/** Render the login form into `root`; `onLoggedIn()` runs after a successful login. */
export function render(root, _params, onLoggedIn) {
  const username = h("input", { id: "login-username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const totp = h("input", {
    id: "login-totp",
    name: "totp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6,8}",
    maxlength: "8",
  });
  const totpField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "login-totp" }, t("login.totp")),
    totp,
  );
  const newPassword = h("input", { id: "login-new-password", type: "password", autocomplete: "new-password" });
  const repeat = h("input", { id: "login-new-password-repeat", type: "password", autocomplete: "new-password" });
  const changeFields = h(
    "div",
    { hidden: true },
    h("div", { class: "field" }, h("label", { for: "login-new-password" }, t("login.newPassword")), newPassword),
    h("div", { class: "field" }, h("label", { for: "login-new-password-repeat" }, t("login.repeatPassword")), repeat),
  );
  const message = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit" }, t("login.submit"));
  const form = h(
    "form",
    { class: "login-form", novalidate: true },
    h("h1", {}, "OpenManager"),
    h("div", { class: "field" }, h("label", { for: "login-username" }, t("login.username")), username),
    h("div", { class: "field" }, h("label", { for: "login-password" }, t("login.password")), password),
    totpField,
    changeFields,
    message,
    submit,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.textContent = "";
    if (!username.value || !password.value) {
      message.textContent = t("login.missing");
      return;
    }
    const changing = !changeFields.hidden;
    if (changing && (!newPassword.value || newPassword.value !== repeat.value)) {
      message.textContent = t("login.mismatch");
      repeat.focus();
      return;
    }
    submit.disabled = true;
    try {
      await login(
        username.value,
        password.value,
        totpField.hidden ? null : totp.value.trim(),
        changing ? newPassword.value : null,
      );
      onLoggedIn();
    } catch (err) {
      if (err.code === "totp_required") {
        totpField.hidden = false;
        message.textContent = t("login.totpNeeded");
        totp.focus();
      } else if (err.code === "password_change_required") {
        changeFields.hidden = false;
        submit.textContent = t("login.changeSubmit");
        message.textContent = t("login.changeRequired");
        newPassword.focus();
      } else {
        // A weak new password: the API's message says what is wrong with it.
        message.textContent = MESSAGES[err.code] ? t(MESSAGES[err.code]) : err.message;
      }
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, h("div", { class: "login" }, form));
  username.focus();
  return null;
}
