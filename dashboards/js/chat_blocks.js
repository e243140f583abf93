// One answer of the chat page as DOM: its text, its tables, its small uPlot charts and the queries it rests
// on. Every value from the API (server names, label values, cells) goes in as text, never as markup.

import { ChartGroup, timeChart } from "./charts.js";
import { h } from "./dom.js";
import { bytes, percent, plain, rate } from "./format.js";
import { t } from "./i18n.js";

const CHART_HEIGHT_PX = 150;
const COLORS = ["--accent", "--series-2", "--series-3", "--series-4", "--series-5", "--series-6"];
let chartCount = 0;

/** A formatter for values of `unit` as the ask API names units ("%", "B/s", "B", "" or another word). */
export function unitFormat(unit) {
  if (unit === "%") return (v) => percent(v);
  if (unit === "B/s") return (v) => rate(v);
  if (unit === "B") return (v) => bytes(v);
  if (!unit) return (v) => plain(v);
  return (v) => `${plain(v)} ${unit}`;
}

function cell(value) {
  if (value === null || value === undefined) return h("td", {}, "–");
  if (typeof value === "number") return h("td", { class: "num" }, plain(value));
  return h("td", {}, String(value));
}

function tableBlock(block) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data-table chat-table" },
      h("caption", {}, String(block.title ?? "")),
      h("thead", {}, h("tr", {}, (block.columns || []).map((name) => h("th", { scope: "col" }, String(name))))),
      h(
        "tbody",
        {},
        (block.rows || []).map((row) => h("tr", {}, (Array.isArray(row) ? row : []).map(cell))),
      ),
    ),
  );
}

function chartBlock(block, charts) {
  const box = h("div", { class: "chart chat-chart" });
  charts.push({ block, box });
  return h("figure", { class: "chart-card" }, h("figcaption", {}, String(block.title ?? "")), box);
}

function queriesBlock(queries) {
  return h(
    "details",
    { class: "chat-queries" },
    h("summary", {}, t("chat.queries")),
    h(
      "ul",
      {},
      queries.map((query) => h("li", {}, h("code", {}, String(query)))),
    ),
  );
}

/**
 * The view of one answer (an AskAnswer of POST /api/mcp/query): `node` to place, `start()` to draw its
 * charts once the node is in the document (they need its width), `stop()` to free them.
 */
export function answerView(answer) {
  const charts = [];
  const blocks = (answer.data || []).map((block) =>
    block.kind === "series" ? chartBlock(block, charts) : tableBlock(block),
  );
  const node = h(
    "div",
    { class: "chat-answer", "data-intent": answer.intent, lang: answer.language },
    h("p", { class: "chat-text" }, String(answer.answer)),
    blocks,
    answer.queries && answer.queries.length ? queriesBlock(answer.queries) : null,
  );
  let drawn = [];
  return {
    node,
    start() {
      drawn = charts.map(({ block, box }) => {
        const unit = String(block.unit || "");
        const lines = block.lines || [];
        const chart = timeChart(box, {
          group: new ChartGroup(`chat-${(chartCount += 1)}`),
          format: unitFormat(unit),
          range: unit === "%" ? [0, 100] : null,
          height: CHART_HEIGHT_PX,
          series: lines.map((line, i) => ({ label: String(line.label), color: COLORS[i % COLORS.length] })),
        });
        chart.setData([block.timestamps || [], ...lines.map((line) => line.values || [])]);
        return chart;
      });
    },
    stop() {
      for (const chart of drawn) chart.destroy();
      drawn = [];
    },
  };
}
