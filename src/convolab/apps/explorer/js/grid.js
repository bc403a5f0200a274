// Shared by every view: a 2-D array drawn as a grid of cells, like the book's figures (row 0 at
// the top). Each cell is a <div class="cell"> (or an <input> when editable) carrying its row and
// column, and whatever classes, text, tooltip and value the view gives it.
(function (CL) {
  "use strict";

  // el: the container (emptied); rows x cols cells; cell(r, c) returns
  //   {text, cls, title, value}: value goes into data-value (full precision, for tests);
  // options: {editable: (r, c, number) => void, onclick: (r, c) => void, caption, label}
  function drawGrid(el, rows, cols, cell, options = {}) {
    el.replaceChildren();
    if (options.caption) {
      const cap = document.createElement("div");
      cap.className = "caption";
      cap.textContent = options.caption;
      el.appendChild(cap);
    }
    const grid = document.createElement("div");
    grid.className = "grid";
    grid.style.gridTemplateColumns = `repeat(${cols}, var(--cell))`;
    if (options.label) grid.setAttribute("aria-label", options.label);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const spec = cell(r, c) || {};
        const node = document.createElement(options.editable ? "input" : "div");
        node.className = "cell" + (spec.cls ? " " + spec.cls : "");
        node.dataset.r = r;
        node.dataset.c = c;
        if (spec.value !== undefined) node.dataset.value = String(spec.value);
        if (spec.title) node.title = spec.title;
        if (options.editable) {
          node.type = "text";
          node.inputMode = "decimal";
          node.value = spec.text ?? "";
          node.setAttribute("aria-label", `${options.label || "cell"} [${r}, ${c}]`);
          node.addEventListener("change", () => {
            const v = Number(node.value);
            if (node.value.trim() !== "" && Number.isFinite(v)) options.editable(r, c, v);
            else node.value = spec.text ?? "";  // not a number: put the old value back
          });
        } else {
          node.textContent = spec.text ?? "";
        }
        if (options.onclick) node.addEventListener("click", () => options.onclick(r, c));
        grid.appendChild(node);
      }
    }
    el.appendChild(grid);
    return grid;
  }

  // A small helper to build elements: h("div", {class: "x", onclick: f}, child, "text", ...)
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  CL.drawGrid = drawGrid;
  CL.h = h;
})(window.Convolab = window.Convolab || {});
