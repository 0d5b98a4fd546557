// Live payments: GET /v1/events is Server-Sent Events behind a bearer token, which EventSource
// cannot send, so the stream is read with fetch() and a reader, frame by frame.

import { authHeaders } from "../api.js";
import { el, row, table, when } from "../dom.js";

const KEEP = 200; // rows shown
const RETRY_MS = 1000;

// One SSE frame ("event: x\nid: y\ndata: {...}") as {event, id, data}; null for a comment.
export function parseFrame(frame) {
  const out = { event: "message", id: "", data: "" };
  let seen = false;
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "data") out.data += (out.data ? "\n" : "") + value;
    else if (field === "event" || field === "id") out[field] = value;
    seen = true;
  }
  return seen ? out : null;
}

function paymentRow(event) {
  const p = event.data;
  return row(
    [
      when(p.updated_at),
      p.id,
      el("span", { class: `status ${p.status}`, text: p.status }),
      p.method,
      `${p.amount} ${p.currency}`,
      p.phone || (p.destination ? JSON.stringify(p.destination) : ""),
      p.reference || "",
    ],
    { "data-payment": p.id, "data-status": p.status },
  );
}

export function mount(view) {
  const state = el("p", { class: "muted", id: "live-state", text: "connecting…" });
  const body = table(["at", "payment", "status", "method", "amount", "to / from", "reference"], []);
  const rows = body.querySelector("tbody");
  view.append(state, body);
  const stop = new AbortController();

  async function follow() {
    while (!stop.signal.aborted) {
      try {
        const resp = await fetch("/v1/events", {
          headers: authHeaders({ Accept: "text/event-stream" }),
          signal: stop.signal,
        });
        if (!resp.ok) {
          state.textContent = `the stream refused: HTTP ${resp.status}`;
          if (resp.status === 401 || resp.status === 403 || resp.status === 501) return;
        } else {
          state.textContent = "live: new status changes appear as they are stored";
          state.dataset.connected = "true";
          await read(resp.body.getReader());
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        state.textContent = `reconnecting (${err.message})`;
      }
      state.dataset.connected = "false";
      await new Promise((done) => setTimeout(done, RETRY_MS));
    }
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (frame && frame.data) show(JSON.parse(frame.data));
      }
    }
  }

  function show(event) {
    rows.prepend(paymentRow(event));
    while (rows.children.length > KEEP) rows.lastElementChild.remove();
  }

  follow();
  return () => stop.abort();
}
