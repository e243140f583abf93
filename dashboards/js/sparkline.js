// A tiny line chart on a canvas, for the fleet list: cheap enough to redraw a screenful per frame.

/** A canvas of `width` × `height` CSS pixels, sharp on high-density screens. */
export function sparkCanvas(width, height, label) {
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  return canvas;
}

/** Draw `values` (percentages, 0-100) in `color`, left to right, the newest at the right edge. */
export function drawSparkline(canvas, values, color, max = 100) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  if (values.length < 2) return;
  const pad = Math.max(1, Math.round(height * 0.08));
  const step = width / (values.length - 1);
  const scale = (height - 2 * pad) / max;
  ctx.beginPath();
  values.forEach((value, i) => {
    const x = i * step;
    const y = height - pad - Math.min(max, Math.max(0, value)) * scale;
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.lineWidth = Math.max(1, (window.devicePixelRatio || 1) * 1.25);
  ctx.strokeStyle = color;
  ctx.stroke();
}
