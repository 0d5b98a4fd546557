// The reconciliation breaks queue (api/recon_breaks.py), for the operator's people: list and
// filter by status and kind, propose a resolution, approve another operator's proposal. The
// server applies every rule (what fits which break, no one approves what they proposed); its
// refusal is shown on the break's row as it says it.

import { call } from "../api.js";
import { el, row, table, when } from "../dom.js";

const STATUSES = ["open", "resolving", "refunding", "resolved", "cleared"];
const KINDS = ["amount_mismatch", "missing_in_switch", "missing_at_provider", "duplicate", "refund_failed"];
const ACTIONS = ["confirm", "allocate", "write_off", "retry_refund", "mark_refunded", "refund"];

function select(name, values, first) {
  return el("select", { name }, el("option", { value: "", text: first }),
    ...values.map((v) => el("option", { value: v, text: v })));
}

export function mount(view) {
  const status = select("status", STATUSES, "any status");
  status.value = "open";
  const kind = select("kind", KINDS, "any kind");
  const filters = el("form", { id: "breaks-filters" }, status, kind,
    el("button", { type: "submit", text: "Show" }));
  const list = el("div", { id: "breaks-list" });
  const notice = el("p", { class: "notice", id: "breaks-notice", role: "status" });
  const error = el("p", { class: "error", role: "alert" });
  view.append(filters, notice, list, error);
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(); });

  async function act(b, path, body, shown) {
    shown.textContent = "";
    shown.className = "";
    try {
      const done = await call("POST", `/v1/operator/recon/breaks/${encodeURIComponent(b.id)}/${path}`, body);
      notice.textContent = `${b.id}: ${done.proposal && done.status === "open" ? "proposed" : done.status}`;
      await load();
    } catch (err) {
      shown.textContent = err.message;
      shown.className = "error";
      shown.dataset.code = err.code;
    }
  }

  function breakRow(b) {
    const shown = el("span", { role: "alert" });
    const action = select("action", ACTIONS, "resolution…");
    const reason = el("input", { name: "reason", placeholder: "reason", maxlength: 500 });
    const extra = el("input", { name: "extra", placeholder: "merchant (allocate) / evidence", maxlength: 500 });
    const propose = () => {
      const body = { action: action.value, reason: reason.value.trim() };
      const more = extra.value.trim();
      if (more && action.value === "allocate") body.merchant_id = more;
      if (more && action.value === "mark_refunded") body.evidence = more;
      act(b, "resolve", body, shown);
    };
    const proposal = b.proposal
      ? `${b.proposal.action} by ${b.proposal.proposed_by}: ${b.proposal.reason}`
      : "";
    const cells = b.status === "open"
      ? el("td", { class: "actions" }, action, reason, extra,
          el("button", { type: "button", class: "resolve", text: "Resolve / propose", onclick: propose }),
          b.proposal ? el("button", { type: "button", class: "approve", text: "Approve",
            onclick: () => act(b, "approve", undefined, shown) }) : null,
          shown)
      : b.status === "refunding"
        // A refund's reversal waiting for M-Pesa's Result: another operator may send it again.
        ? el("td", { class: "actions" }, `refund ${b.refund ? b.refund.status : ""}`,
            el("button", { type: "button", class: "approve", text: "Resend",
              onclick: () => act(b, "approve", undefined, shown) }), shown)
        : el("td", { class: "muted", text: b.resolution ? `${b.resolution.action} (${b.resolution.resolved_by})` : "" });
    const amounts = `${b.switch_amount ?? "–"} / ${b.provider_amount ?? "–"}`;
    return row([when(b.found_at), b.kind, b.provider, b.key, amounts, b.status, b.detail, proposal, cells],
      { "data-break": b.id, "data-status": b.status });
  }

  async function load() {
    error.textContent = "";
    const query = new URLSearchParams();
    if (status.value) query.set("status", status.value);
    if (kind.value) query.set("kind", kind.value);
    try {
      const found = await call("GET", `/v1/operator/recon/breaks?${query}`);
      list.replaceChildren(found.data.length
        ? table(["found", "kind", "provider", "key", "switch / provider KES", "status", "detail",
            "proposal", ""], found.data.map(breakRow))
        : el("p", { class: "muted", text: "No break matches." }));
    } catch (err) {
      error.textContent = err.message;
    }
  }

  load();
}
