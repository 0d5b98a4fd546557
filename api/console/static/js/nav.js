// The console's pages, as data. An entry shows when its page is built, every route it needs is
// served by this switch (it is in /openapi.json) and the signed-in person's role holds each
// route's permission. Pages for routes other parts of the switch do not serve yet stay hidden
// (page: null) until they are built here.

export const PAGES = [
  { id: "live", title: "Live payments", needs: ["GET /v1/events"], page: "live" },
  { id: "rails", title: "Rails", needs: ["GET /v1/stats/rails"], page: "rails" },
  { id: "balance", title: "Balance", needs: ["GET /v1/balance"], page: "balance" },
  { id: "reviews", title: "Review queue", needs: ["GET /v1/reviews"], page: "reviews" },
  { id: "payments", title: "Payments", needs: ["GET /v1/payments"], page: "payments" },
  { id: "statements", title: "Statements", needs: ["GET /v1/statements"], page: "statements" },
  // The operator's people (role operator, two-factor) see this one.
  { id: "breaks", title: "Breaks", needs: ["GET /v1/operator/recon/breaks"], page: "breaks" },
];

export function allowed(permission, scope) {
  return permission === "public" || permission === "session" || scope.split(" ").includes(permission);
}

export function visible(pages, routes, scope) {
  return pages.filter(
    (p) =>
      p.page !== null &&
      p.needs.every((op) => routes.has(op) && allowed(routes.get(op), scope)),
  );
}
