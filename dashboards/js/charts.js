// Time-series charts on uPlot: themed axes, hover values in the legend, drag-to-zoom on time, and a chart
// group whose members share the cursor and the zoom. Times are shown in the browser's time zone.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { cssVar } from "./theme.js";

const HEIGHT_PX = 200;

function loadStylesheet() {
  const href = "/static/vendor/uplot/uPlot.min.css";
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}

loadStylesheet();

/** Charts that share a cursor and a time zoom; `onZoom(zoomed)` hears when the zoom changes. */
export class ChartGroup {
  constructor(key, onZoom = () => {}) {
    this.key = key;
    this.charts = new Set();
    this.onZoom = onZoom;
    this.syncing = false;
    this.zoomed = false;
  }

  /** Zoom every chart to [min, max] (Unix seconds). */
  zoom(min, max) {
    this.syncing = true;
    for (const chart of this.charts) chart.plot.setScale("x", { min, max });
    this.syncing = false;
  }

  /** Back to the whole data range of each chart. */
  resetZoom() {
    this.zoomed = false;
    for (const chart of this.charts) chart.fit();
    this.onZoom(false);
  }
}

/**
 * A chart in `container`: `series` is [{label, color (CSS variable), format(value)}]; `range` [min, max] fixes
 * the y axis (percentages), else it follows the data; `height` in pixels. Returns {setData, fit, destroy, plot}.
 */
export function timeChart(container, { series, format, range, group, height = HEIGHT_PX }) {
  const text = cssVar("--text-muted");
  const grid = cssVar("--grid");
  let data = [[], ...series.map(() => [])];
  let shown = null;
  const options = {
    width: Math.max(container.clientWidth, 200),
    height,
    cursor: {
      sync: { key: group.key, setSeries: false },
      drag: { x: true, y: false, setScale: true },
      focus: { prox: 16 },
    },
    scales: {
      x: { time: true },
      y: range ? { range: () => range } : { range: (_, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
    },
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        width: 1.5,
        points: { show: false },
        spanGaps: false,
        value: (_, v) => (v === null || v === undefined ? "–" : format(v)),
      })),
    ],
    axes: [
      { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: text,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        size: 72,
        values: (_, values) => values.map((v) => format(v)),
      },
    ],
    legend: { live: true },
    hooks: {
      setScale: [
        (u, key) => {
          if (key !== "x" || group.syncing) return;
          const { min, max } = u.scales.x;
          const full = shown || (data[0].length ? [data[0][0], data[0][data[0].length - 1]] : [min, max]);
          const zoomed = min > full[0] + 1e-6 || max < full[1] - 1e-6;
          if (zoomed && !group.zoomed) {
            group.zoomed = true;
            group.onZoom(true);
          }
          if (zoomed) group.zoom(min, max);
        },
      ],
    },
  };
  const plot = new uPlot(options, data, container);
  const chart = {
    plot,
    /**
     * Replace the data ([times, ...values per series]) and the time window [min, max] shown when not
     * zoomed (null: the data's extent); a zoom stays in place.
     */
    setData(next, window = null) {
      data = next;
      shown = window;
      container.dataset.points = String(next[0].length);
      plot.setData(next, false);
      if (!group.zoomed) this.fit();
    },
    /** Show the whole window (or the whole data). */
    fit() {
      if (shown) plot.setScale("x", { min: shown[0], max: shown[1] });
      else plot.setData(data, true);
    },
    destroy() {
      observer.disconnect();
      group.charts.delete(chart);
      plot.destroy();
    },
  };
  const observer = new ResizeObserver(() => {
    const width = Math.max(container.clientWidth, 200);
    if (width !== plot.width) plot.setSize({ width, height });
  });
  observer.observe(container);
  group.charts.add(chart);
  container.dataset.points = "0";
  return chart;
}
