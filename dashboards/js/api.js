// The API client of the pages: every call carries the access token; a 401 is answered by one refresh and
// one retry, and a second 401 ends the session (the router then shows the login page).

import { ApiError, explain, send } from "./http.js";
import { accessToken, expire, refresh } from "./session.js";

export { ApiError, explain };

async function call(method, path, options = {}) {
  const token = await accessToken();
  try {
    return await send(method, path, { ...options, token });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  try {
    await refresh();
    return await send(method, path, { ...options, token: await accessToken() });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) expire();
    throw err;
  }
}

/** GET `path` with an optional query object. */
export const get = (path, query) => call("GET", path, { query });
/** POST a JSON body. */
export const post = (path, body) => call("POST", path, { body: body ?? {} });
/** PATCH a JSON body. */
export const patch = (path, body) => call("PATCH", path, { body });
/** PUT a JSON body. */
export const put = (path, body) => call("PUT", path, { body });
/** DELETE `path`. */
export const del = (path) => call("DELETE", path);
