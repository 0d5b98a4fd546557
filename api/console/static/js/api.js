// The public API as the console calls it. The session token of POST /v1/auth/login lives in
// this tab's sessionStorage only (never the persistent local storage): it ends with the tab.
// Every error answer reads as one line saying which field and why.

const KEY = "switch.console.session";

export function session() {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  const s = JSON.parse(raw);
  return s.expires_at > Date.now() ? s : null;
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    const details = (err.details || []).map((d) => `${d.field}: ${d.reason}`).join("; ");
    const text = err.message || `HTTP ${status}`;
    super(details ? `${text} (${details})` : text);
    this.status = status;
    this.code = err.code || "http_error";
  }
}

async function answer(resp) {
  const type = resp.headers.get("Content-Type") || "";
  const body = type.startsWith("application/json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

export async function signIn(email, password, totp) {
  const body = { email, password };
  if (totp) body.totp = totp;
  const resp = await fetch("/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const s = await answer(resp);
  const kept = {
    token: s.access_token,
    scope: s.scope,
    role: s.role,
    mfa: s.mfa,
    user_id: s.user_id,
    merchant_id: s.merchant_id,
    expires_at: Date.now() + s.expires_in * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(kept));
  return kept;
}

export function authHeaders(extra = {}) {
  const s = session();
  return s ? { ...extra, Authorization: `Bearer ${s.token}` } : extra;
}

// A JSON call with the session's token. A 401 means the session ended: back to sign-in.
export async function call(method, path, body, signal) {
  const init = { method, headers: authHeaders(), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 && session()) {
    forget();
    window.dispatchEvent(new Event("console:signed-out"));
  }
  return answer(resp);
}

// The routes this switch serves, with the permission each needs (OpenAPI's x-permission).
let operations = null;
export async function routes() {
  if (operations === null) {
    const doc = await answer(await fetch("/openapi.json"));
    operations = new Map();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        operations.set(`${method.toUpperCase()} ${path}`, op["x-permission"] || "public");
      }
    }
  }
  return operations;
}
