// Chat: questions about the fleet in Korean or English (POST /api/mcp/query), answered with text, tables and
// small charts; suggested questions as buttons; the conversation kept per user in this browser.
//
// Keyboard: Enter sends, Shift+Enter starts a new line, Up (on the first line of an empty or recalled
// question) recalls earlier questions and Down goes back. Each question is sent in the page's language,
// so answers, their tables' headings and status names match the rest of the dashboard.

import { explain, post } from "../api.js";
import { answerView } from "../chat_blocks.js";
import { appendHistory, clearHistory, loadHistory } from "../chat_history.js";
import { h, replace } from "../dom.js";
import { language, t } from "../i18n.js";
import { currentAccount } from "../session.js";

const STARTERS = ["chat.start.top", "chat.start.down", "chat.start.fleet", "chat.start.alerts"];

function onFirstLine(textarea) {
  return !textarea.value.slice(0, textarea.selectionStart).includes("\n");
}

function onLastLine(textarea) {
  return !textarea.value.slice(textarea.selectionEnd).includes("\n");
}

/** Render the chat page into `root`; returns the cleanup (the answers' charts). */
export function render(root) {
  const userId = currentAccount().id;
  let entries = loadHistory(userId);
  let views = [];
  let busy = false;
  let recalled = null; // index into `questions()` while the input shows a recalled question

  const log = h("div", {
    id: "chat-log",
    class: "chat-log",
    role: "log",
    "aria-live": "polite",
    "aria-label": t("chat.conversation"),
    tabindex: "0",
  });
  const empty = h("p", { class: "empty", id: "chat-empty" }, t("chat.empty"));
  const suggestions = h("div", {
    id: "chat-suggestions",
    class: "chat-suggestions",
    role: "group",
    "aria-label": t("chat.suggestions"),
  });
  const input = h("textarea", {
    id: "chat-input",
    rows: "2",
    maxlength: "500",
    autocomplete: "off",
    "aria-describedby": "chat-hint",
    placeholder: t("chat.placeholder"),
  });
  const send = h("button", { type: "submit", id: "chat-send" }, t("chat.send"));
  const note = h("p", { id: "chat-note", class: "muted small", role: "status" });
  const clear = h(
    "button",
    { type: "button", class: "secondary", id: "chat-clear", onclick: clearAll },
    t("chat.clear"),
  );
  const form = h(
    "form",
    { id: "chat-form", class: "chat-form", onsubmit: submit },
    h("label", { for: "chat-input", class: "chat-label" }, t("chat.question")),
    h("div", { class: "chat-compose" }, input, send),
    h("p", { id: "chat-hint", class: "muted small" }, t("chat.hint")),
  );

  replace(
    root,
    h("div", { class: "section-head" }, h("h1", {}, t("chat.title")), clear),
    log,
    suggestions,
    form,
    note,
  );

  function questions() {
    return entries.map((entry) => entry.question);
  }

  function exchangeNode(question) {
    return h(
      "article",
      { class: "chat-exchange" },
      h("p", { class: "chat-question" }, h("span", { class: "visually-hidden" }, t("chat.you")), question),
    );
  }

  function showAnswer(exchange, answer) {
    const view = answerView(answer);
    exchange.append(view.node);
    view.start();
    views.push(view);
  }

  function showSuggestions(list) {
    replace(
      suggestions,
      list.map((text) =>
        h("button", { type: "button", class: "secondary suggestion", onclick: () => ask(text) }, text),
      ),
    );
  }

  function latestSuggestions() {
    const last = entries[entries.length - 1];
    return last && last.answer.suggestions && last.answer.suggestions.length
      ? last.answer.suggestions.map(String)
      : STARTERS.map((key) => t(key));
  }

  function restore() {
    replace(log, entries.length ? null : empty);
    for (const entry of entries) {
      const exchange = exchangeNode(entry.question);
      log.append(exchange);
      showAnswer(exchange, entry.answer);
    }
    showSuggestions(latestSuggestions());
    log.scrollTop = log.scrollHeight;
  }

  // The previous answer's servers (by id: all a follow-up needs, and small whatever was named) and the
  // browser's UTC offset, for "its processes" and "yesterday".
  function context() {
    const last = entries[entries.length - 1];
    const out = { utc_offset_minutes: -new Date().getTimezoneOffset() };
    const servers = last && last.answer.entities ? last.answer.entities.servers : null;
    if (Array.isArray(servers)) out.entities = { servers: servers.map((ref) => ({ id: String(ref.id) })) };
    return out;
  }

  async function ask(text) {
    const question = text.trim();
    if (!question || busy) return;
    // A clicked suggestion is replaced by the answer's: keep the keyboard's place in the question box.
    if (suggestions.contains(document.activeElement)) input.focus({ preventScroll: true });
    busy = true;
    send.disabled = true;
    recalled = null;
    input.value = "";
    empty.remove();
    const exchange = exchangeNode(question);
    const pending = h("p", { class: "muted chat-pending" }, t("chat.thinking"));
    exchange.append(pending);
    log.append(exchange);
    log.setAttribute("aria-busy", "true");
    exchange.scrollIntoView({ block: "nearest" });
    try {
      const answer = await post("/api/mcp/query", { query: question, language: language(), context: context() });
      pending.remove();
      entries = appendHistory(userId, question, answer);
      showAnswer(exchange, answer);
      showSuggestions(latestSuggestions());
    } catch (err) {
      pending.remove();
      exchange.append(h("p", { class: "error chat-error" }, t("chat.failed", { message: explain(err) })));
      input.value = question;
    } finally {
      busy = false;
      send.disabled = false;
      log.removeAttribute("aria-busy");
      exchange.scrollIntoView({ block: "nearest" });
    }
  }

  function submit(event) {
    event.preventDefault();
    ask(input.value);
  }

  function recall(step) {
    const asked = questions();
    if (!asked.length) return false;
    const at = recalled === null ? asked.length : recalled;
    const next = at + step;
    if (next < 0) return true;
    if (next >= asked.length) {
      if (recalled === null) return false;
      recalled = null;
      input.value = "";
      return true;
    }
    recalled = next;
    input.value = asked[next];
    input.setSelectionRange(input.value.length, input.value.length);
    return true;
  }

  input.addEventListener("keydown", (event) => {
    if (event.isComposing || event.keyCode === 229) return; // an IME (Hangul) is still composing
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      ask(input.value);
    } else if (event.key === "ArrowUp" && onFirstLine(input) && (input.value === "" || recalled !== null)) {
      if (recall(-1)) event.preventDefault();
    } else if (event.key === "ArrowDown" && onLastLine(input) && recalled !== null) {
      if (recall(1)) event.preventDefault();
    }
  });
  input.addEventListener("input", () => {
    recalled = null;
  });

  function stopViews() {
    for (const view of views) view.stop();
    views = [];
  }

  function clearAll() {
    clearHistory(userId);
    entries = [];
    stopViews();
    restore();
    note.textContent = t("chat.cleared");
    input.focus();
  }

  restore();
  input.focus({ preventScroll: true });
  return stopViews;
}
