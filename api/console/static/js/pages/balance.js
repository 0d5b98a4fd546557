// The merchant's balance (GET /v1/balance): spendable, and reserved for payouts in flight.

import { call } from "../api.js";
import { el, figure } from "../dom.js";

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
        figure("Available", `${b.available} ${b.currency}`, "balance-available"),
        figure("Reserved for payouts", `${b.reserved} ${b.currency}`, "balance-reserved"),
      );
    } catch (err) {
      error.textContent = err.message;
    }
  }

  load();
}

