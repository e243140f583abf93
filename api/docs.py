"""``GET /api/docs``: a self-contained page that lists the routes of ``/api/openapi.json``.

The page fetches the document from its own origin and renders it with plain JavaScript; nothing comes from
anywhere else. Its script and style are inline, allowed by their hashes in the page's own
Content-Security-Policy (the API's default policy allows nothing to run).
"""

from __future__ import annotations

import base64
import hashlib

from aiohttp import web

from api.openapi import ApiRoutes

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
.op { margin: .75rem 0; padding: .5rem .75rem; border-left: 4px solid #888; background: #f7f7f7; }
.method { font-weight: bold; display: inline-block; width: 4rem; }
.path { font-family: monospace; }
.role { float: right; color: #666; }
.params { margin: .25rem 0 0 4rem; color: #444; font-family: monospace; }
"""

_SCRIPT = """
"use strict";
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
fetch("/api/openapi.json").then((r) => r.json()).then((doc) => {
  const root = document.getElementById("ops");
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  for (const [tag, ops] of [...byTag.entries()].sort()) {
    root.appendChild(el("h2", "", tag));
    for (const [method, path, op] of ops) {
      const box = el("div", "op");
      box.appendChild(el("span", "method", method.toUpperCase()));
      box.appendChild(el("span", "path", path));
      box.appendChild(el("span", "role", op["x-minimum-role"] || "public"));
      box.appendChild(el("div", "", op.summary || ""));
      const params = (op.parameters || []).map((p) => p.name + (p.required ? "*" : ""));
      if (params.length) box.appendChild(el("div", "params", "?" + params.join(" ")));
      root.appendChild(box);
    }
  }
}).catch((err) => {
  document.getElementById("ops").textContent = "could not load /api/openapi.json: " + err;
});
"""


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>OpenManager API</title>
<style>{_STYLE}</style>
</head>
<body>
<h1 id="title">OpenManager API</h1>
<p>The machine-readable document is at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<div id="ops">loading…</div>
<script>{_SCRIPT}</script>
</body>
</html>
"""

DOCS_CSP = (
    f"default-src 'none'; script-src {_hash(_SCRIPT)}; style-src {_hash(_STYLE)}; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Only the page's own inline script and style run, and it may fetch only from this origin."""

routes = ApiRoutes()


@routes.get(
    "/api/docs", summary="A page listing the API's routes", tag="meta", role=None, media_type="text/html"
)
async def docs_page(_: web.Request) -> web.Response:
    """The route list, rendered in the browser from the OpenAPI document."""
    return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": DOCS_CSP})
