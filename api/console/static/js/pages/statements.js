// A statement of the balance from the journal (GET /v1/statements): opening balance, every
// entry with the running balance, closing balance; exported as CSV by a background job.

import { call } from "../api.js";
import { el, figure, row, table } from "../dom.js";
import { exportButton } from "../exports.js";

function day(offset) {
  // A Nairobi day (UTC+3, no daylight saving), as the statement's days are.
  return new Date(Date.now() + 3 * 3600e3 + offset * 86400e3).toISOString().slice(0, 10);
}

export function mount(view, ctx) {
  const since = el("input", { name: "since", value: day(-6), "aria-label": "First day" });
  const until = el("input", { name: "until", value: day(0), "aria-label": "Last day" });
  const account = el("select", { name: "account" },
    el("option", { value: "available", text: "available" }),
    el("option", { value: "reserved", text: "reserved" }));
  const form = el("form", { class: "filters", id: "statement-filters" }, since, until, account,
    el("button", { type: "submit", text: "Show" }));
  const summary = el("div", { class: "figures", id: "statement-summary" });
  const entries = el("div", { id: "statement-entries" });
  const error = el("p", { class: "error", role: "alert" });
  const params = () => ({ since: since.value.trim(), until: until.value.trim(), account: account.value });
  const tools = ctx.can("POST", "/v1/exports") ? exportButton("statement", params) : null;
  view.append(form, el("div", { class: "toolbar" }, tools), summary, entries, error);

  async function load() {
    error.textContent = "";
    try {
      const s = await call("GET", `/v1/statements?${new URLSearchParams(params())}`);
      summary.replaceChildren(
        figure("Opening balance", `${s.opening_balance} ${s.currency}`, "statement-opening"),
        figure("Closing balance", `${s.closing_balance} ${s.currency}`, "statement-closing"),
      );
      entries.replaceChildren(s.entries.length
        ? table(["at", "kind", "payment", "gross", "fee", "amount", "balance"],
          s.entries.map((e) => row([new Date(e.at).toLocaleString("en-GB"), e.kind, e.payment_id || "",
            e.gross, e.fee, e.amount, e.balance], { "data-entry": e.entry_id })))
        : el("p", { class: "muted", text: "No entry in these days." }));
    } catch (err) {
      error.textContent = err.message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
}

