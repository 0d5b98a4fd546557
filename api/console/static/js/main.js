// The console: sign-in, the navigation built from PAGES, and one page at a time in #view.

import { call, forget, routes, session, signIn } from "./api.js";
import { el } from "./dom.js";
import { PAGES, allowed, visible } from "./nav.js";

const $ = (id) => document.getElementById(id);
let leave = null; // the current page's clean-up (closes its stream, stops its timer)

function showSignIn(message = "") {
  if (leave) leave();
  leave = null;
  $("view").hidden = true;
  $("nav").replaceChildren();
  $("who").textContent = "";
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
}

async function showApp() {
  const s = session();
  if (!s) return showSignIn();
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  $("view").hidden = false;
  const served = await routes();
  const pages = visible(PAGES, served, s.scope);
  $("nav").replaceChildren(
    ...pages.map((p) => el("a", { href: `#${p.id}`, "data-page": p.id, text: p.title })),
  );
  call("GET", "/v1/users/me").then(
    (me) => ($("who").textContent = `${me.name} · ${s.role}`),
    () => ($("who").textContent = s.role),
  );
  const ctx = {
    session: s,
    can: (method, path) => served.has(`${method} ${path}`) && allowed(served.get(`${method} ${path}`), s.scope),
  };
  const wanted = location.hash.slice(1);
  const page = pages.find((p) => p.id === wanted) || pages[0];
  if (!page) {
    $("view").replaceChildren(el("p", { text: "Your role opens no page of the console." }));
    return;
  }
  for (const link of $("nav").children) {
    link.classList.toggle("current", link.dataset.page === page.id);
  }
  if (leave) leave();
  const view = el("section", { id: `page-${page.id}` }, el("h1", { text: page.title }));
  $("view").replaceChildren(view);
  const module = await import(`./pages/${page.page}.js`);
  leave = module.mount(view, ctx) || null;
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("sign-in-error").textContent = "";
  try {
    await signIn(form.get("email"), form.get("password"), form.get("totp").trim());
    event.target.reset();
    await showApp();
  } catch (err) {
    $("sign-in-error").textContent = err.message;
  }
});

$("sign-out").addEventListener("click", () => {
  forget();
  location.hash = "";
  showSignIn();
});

window.addEventListener("hashchange", () => session() && showApp());
window.addEventListener("console:signed-out", () => showSignIn("Your session ended; sign in again."));
showApp();
