// The merchant's balance (GET /v1/balance): spendable, and reserved for payouts in flight.

import { call } from "../api.js";
import { el } from "../dom.js";

export function mount(view) {
  const figures = el("div", { class: "figures" });
  const error = el("p", { class: "error", role: "alert" });
  const refresh = el("button", { type: "button", text: "Refresh", onclick: load });
  view.append(figures, refresh, error);

  async function load() {
    error.textContent = "";
    try {
      const b = await call("GET", "/v1/balance");
      figures.replaceChildren(
        figure("Available", `${b.available} ${b.currency}`, "available"),
        figure("Reserved for payouts", `${b.reserved} ${b.currency}`, "reserved"),
      );
    } catch (err) {
      error.textContent = err.message;
    }
  }

  load();
}

function figure(label, value, id) {
  return el("div", { class: "figure" }, el("span", { class: "label", text: label }),
    el("span", { class: "value", id: `balance-${id}`, text: value }));
}
