// Building the page from data with textContent only: nothing the API returns is parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, value === true ? "" : value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

export function table(columns, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { text: c })))),
    el("tbody", {}, ...rows),
  );
}

export function row(cells, attrs = {}) {
  return el("tr", attrs, ...cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c ?? ""))));
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString("en-GB", { hour12: false }) : "";
}

export function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)} %`;
}

// A labelled figure (a balance): the value's element has the id ``id``.
export function figure(label, value, id) {
  return el("div", { class: "figure" }, el("span", { class: "label", text: label }),
    el("span", { class: "value", id, text: value }));
}
