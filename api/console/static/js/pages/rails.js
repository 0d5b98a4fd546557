// Success rate and latency (created to final) per rail, and provider call latency
// (GET /v1/stats/rails), measured by the switch's own metrics since its processes started;
// refreshed every few seconds.

import { call } from "../api.js";
import { el, percent, row, table } from "../dom.js";

const EVERY_MS = 5000;
const COLOURS = { good: "#2e7d32", p50: "#1565c0", p95: "#90caf9", p99: "#90caf9" };

function barChart(canvas, label, max) {
  return new window.Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" }, title: { display: true, text: label } },
      scales: { y: { beginAtZero: true, max } },
    },
  });
}

export function mount(view) {
  const note = el("p", { class: "muted", text: "Switch-wide, since the switch started." });
  const charts = el("div", { class: "charts" });
  const rateCanvas = el("canvas", { id: "chart-success", "aria-label": "Success rate per rail" });
  const railCanvas = el("canvas", { id: "chart-rail-latency", "aria-label": "Created to final per rail" });
  const latencyCanvas = el("canvas", { id: "chart-latency", "aria-label": "Provider call latency" });
  charts.append(el("div", { class: "chart" }, rateCanvas), el("div", { class: "chart" }, railCanvas),
    el("div", { class: "chart" }, latencyCanvas));
  const rails = el("div", { id: "rails-table" });
  const calls = el("div", { id: "calls-table" });
  const error = el("p", { class: "error", role: "alert" });
  view.append(note, charts, el("h2", { text: "Rails" }), rails,
    el("h2", { text: "Provider calls" }), calls, error);
  const rate = barChart(rateCanvas, "Success rate per rail (%)", 100);
  const railLatency = barChart(railCanvas, "Created to final per rail (s)", undefined);
  const latency = barChart(latencyCanvas, "Provider call latency (ms)", undefined);

  async function load() {
    try {
      const s = await call("GET", "/v1/stats/rails");
      error.textContent = s.complete ? "" : "Some actors did not answer: figures are partial.";
      const used = s.rails.filter((r) => r.final > 0);
      rate.data.labels = used.map((r) => r.method);
      rate.data.datasets = [{
        label: "succeeded / final",
        data: used.map((r) => +(r.success_rate * 100).toFixed(1)),
        backgroundColor: COLOURS.good,
      }];
      rate.update();
      const timed = s.rails.filter((r) => r.p50_s !== null);
      railLatency.data.labels = timed.map((r) => r.method);
      railLatency.data.datasets = [
        { label: "p50", data: timed.map((r) => r.p50_s), backgroundColor: COLOURS.p50 },
        { label: "p99", data: timed.map((r) => r.p99_s), backgroundColor: COLOURS.p99 },
      ];
      railLatency.update();
      latency.data.labels = s.provider_calls.map((c) => `${c.provider} ${c.operation}`);
      latency.data.datasets = [
        { label: "p50", data: s.provider_calls.map((c) => c.p50_ms), backgroundColor: COLOURS.p50 },
        { label: "p95", data: s.provider_calls.map((c) => c.p95_ms), backgroundColor: COLOURS.p95 },
      ];
      latency.update();
      rails.replaceChildren(table(
        ["rail", "provider", "succeeded", "failed", "expired", "success rate", "p50 s", "p99 s"],
        s.rails.map((r) => row([r.method, r.provider, r.succeeded, r.failed, r.expired,
          percent(r.success_rate), r.p50_s, r.p99_s], { "data-rail": r.method })),
      ));
      calls.replaceChildren(table(
        ["provider", "operation", "calls", "p50 ms", "p95 ms"],
        s.provider_calls.map((c) => row([c.provider, c.operation, c.calls, c.p50_ms, c.p95_ms])),
      ));
    } catch (err) {
      error.textContent = err.message;
    }
  }

  load();
  const timer = setInterval(load, EVERY_MS);
  return () => {
    clearInterval(timer);
    rate.destroy();
    railLatency.destroy();
    latency.destroy();
  };
}
