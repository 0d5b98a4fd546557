// A CSV export as a background job (POST /v1/exports, then GET /v1/exports/{id} until ready):
// its signed download link expires after 15 minutes and needs no token.

import { call } from "./api.js";
import { el } from "./dom.js";

const POLL_MS = 1000;
const MAX_POLLS = 120;

export function exportButton(kind, filters) {
  const out = el("span", { class: "export", role: "status" });
  const button = el("button", { type: "button", class: "secondary", text: "Export CSV" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    out.replaceChildren("preparing…");
    out.className = "export";
    try {
      let job = await call("POST", "/v1/exports", { kind, filters: filters() });
      for (let i = 0; job.status === "running" && i < MAX_POLLS; i += 1) {
        await new Promise((done) => setTimeout(done, POLL_MS));
        job = await call("GET", `/v1/exports/${encodeURIComponent(job.id)}`);
      }
      if (job.status !== "ready") throw new Error(job.failure || `export ${job.status}`);
      out.replaceChildren(
        el("a", { href: job.download_url, download: `${kind}.csv`, id: `export-${kind}`,
          text: `Download ${kind} CSV` }),
        ` (link valid ${Math.round(job.expires_in / 60)} min)`,
      );
    } catch (err) {
      out.replaceChildren(err.message);
      out.className = "export error";
    } finally {
      button.disabled = false;
    }
  });
  return el("span", {}, button, " ", out);
}
