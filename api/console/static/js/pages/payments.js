// Find payments (GET /v1/payments): filters, newest first, a page at a time by the opaque
// cursor the server hands back; the same filters export as CSV.

import { call } from "../api.js";
import { el, row, table, when } from "../dom.js";
import { exportButton } from "../exports.js";

const STATUSES = ["", "pending", "processing", "succeeded", "failed", "expired"];
const FIELDS = [
  ["reference", "Reference"],
  ["created_since", "Created from (YYYY-MM-DD)"],
  ["created_until", "Created until (YYYY-MM-DD)"],
  ["phone", "Phone"],
  ["receipt", "Provider receipt"],
];

export function mount(view, ctx) {
  const status = el("select", { name: "status" },
    ...STATUSES.map((s) => el("option", { value: s, text: s || "any status" })));
  const inputs = FIELDS.map(([name, label]) => el("input", { name, placeholder: label, "aria-label": label }));
  const search = el("button", { type: "submit", text: "Search" });
  const form = el("form", { class: "filters", id: "payments-filters" }, status, ...inputs, search);
  const results = el("div", { id: "payments-results" });
  const more = el("button", { type: "button", class: "secondary", text: "Next page", hidden: true });
  const error = el("p", { class: "error", role: "alert" });
  const tools = ctx.can("POST", "/v1/exports") ? exportButton("payments", filters) : null;
  view.append(form, el("div", { class: "toolbar" }, tools), results, more, error);
  let cursor = null;

  function filters() {
    const out = {};
    if (status.value) out.status = status.value;
    for (const input of inputs) if (input.value.trim()) out[input.name] = input.value.trim();
    return out;
  }

  async function load(next) {
    error.textContent = "";
    const query = new URLSearchParams({ ...filters(), limit: "50" });
    if (next) query.set("cursor", next);
    try {
      const page = await call("GET", `/v1/payments?${query}`);
      const rows = page.data.map((p) => row([when(p.created_at), p.id,
        el("span", { class: `status ${p.status}`, text: p.status }), p.method,
        `${p.amount} ${p.currency}`, p.fee, p.reference || "", (p.provider && p.provider.receipt) || ""],
      { "data-payment": p.id }));
      const shown = table(["created", "payment", "status", "method", "amount", "fee", "reference", "receipt"], rows);
      if (next) results.querySelector("tbody").append(...shown.querySelector("tbody").children);
      else results.replaceChildren(page.data.length ? shown : el("p", { class: "muted", text: "No payment matches." }));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      error.textContent = err.message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(null);
  });
  more.addEventListener("click", () => load(cursor));
  load(null);
}
