// One HTTP exchange with the API and its one error shape, {"error": {"code", "message", "details"}}.

/** A failed API call: the HTTP status and the API's error code, message and details. */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** What went wrong, for a person: the message, or each invalid field with its problem when the API lists them. */
export function explain(err) {
  const problems = Array.isArray(err.details) ? err.details.filter((d) => d && d.field && d.problem) : [];
  if (!problems.length) return err.message;
  return problems.map((d) => `${d.field}: ${String(d.problem).replace(/^Value error, /, "")}`).join("; ");
}

/** A path with a query string built from `query` (null and undefined values and "" are left out). */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Send one request; resolves to the parsed JSON (null for an empty answer), rejects with ApiError. */
export async function send(method, path, { body, token, query } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, "network", err.message || "network error");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || String(response.status),
      error.message || response.statusText,
      error.details ?? null,
    );
  }
  return data;
}
