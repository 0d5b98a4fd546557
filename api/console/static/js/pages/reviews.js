// The review queue (api/reviews.py): payments held by screening, approved or rejected by a
// person. The server applies the four-eyes rules (no one approves what they made); its refusal
// is shown on the payment's row as it says it.

import { call } from "../api.js";
import { el, row, table, when } from "../dom.js";

function reviewText(review) {
  const got = review.approvals.length;
  return `${review.reason}: ${review.message || review.rules.join(", ")} · approvals ${got} of ${review.approvals_needed}`;
}

export function mount(view, ctx) {
  const mayDecide = ctx.can("POST", "/v1/reviews/{payment_id}/approve");
  const list = el("div", { id: "reviews-list" });
  const notice = el("p", { class: "notice", id: "reviews-notice", role: "status" });
  const error = el("p", { class: "error", role: "alert" });
  view.append(notice, list, error);

  async function decide(payment, decision, reasonInput, status) {
    status.textContent = "";
    status.className = "";
    const reason = reasonInput.value.trim();
    try {
      const done = await call("POST", `/v1/reviews/${encodeURIComponent(payment.id)}/${decision}`,
        reason ? { reason } : {});
      const r = done.review;
      notice.textContent = r.status === "pending"
        ? `${payment.id}: your approval is recorded; ${r.approvals_needed - r.approvals.length} more needed`
        : `${payment.id}: ${r.status}`;
      await load();
    } catch (err) {
      status.textContent = err.message;
      status.className = "error";
      status.dataset.code = err.code;
    }
  }

  function heldRow(p) {
    const status = el("span", { role: "alert" });
    const reason = el("input", { name: "reason", placeholder: "reason (needed to reject)", maxlength: 500 });
    const actions = mayDecide
      ? el("td", { class: "actions" }, reason,
          el("button", { type: "button", class: "approve", text: "Approve",
            onclick: () => decide(p, "approve", reason, status) }),
          el("button", { type: "button", class: "reject", text: "Reject",
            onclick: () => decide(p, "reject", reason, status) }),
          status)
      : el("td", { class: "muted", text: "your role may not decide" });
    const named = p.recipient_name || (p.metadata && p.metadata.recipient_name);
    const account = p.phone || (p.destination ? JSON.stringify(p.destination) : "");
    const to = named ? `${named} · ${account}` : account;
    return row([when(p.created_at), p.id, p.method, `${p.amount} ${p.currency}`, to,
      reviewText(p.review), actions], { "data-payment": p.id });
  }

  async function load() {
    error.textContent = "";
    try {
      const held = await call("GET", "/v1/reviews");
      list.replaceChildren(held.data.length
        ? table(["created", "payment", "method", "amount", "to", "why held", ""], held.data.map(heldRow))
        : el("p", { class: "muted", text: "Nothing is held for review." }));
    } catch (err) {
      error.textContent = err.message;
    }
  }

  load();
}
