// Starts the registered views: one tab and one <section> each, and the fragment's "view=" picks
// the one shown (the first when it names none). Runs last.
(function (CL) {
  "use strict";
  const { h } = CL;
  const started = new Map();  // view id -> {view, section, tab, instance}

  function start() {
    const nav = document.getElementById("views-nav"), main = document.getElementById("views");
    for (const view of CL.views) {
      const section = h("section", { class: "view", id: `view-${view.id}`, hidden: true });
      const tab = h("a", { href: CL.hash.format(view.id, []), class: "tab", text: view.title });
      nav.appendChild(tab);
      main.appendChild(section);
      started.set(view.id, { view, section, tab, instance: view.create(section) });
    }
    window.addEventListener("hashchange", route);
    route();
  }

  function route() {
    const { view, params } = CL.hash.read();
    const current = started.get(view) || started.values().next().value;
    for (const entry of started.values()) {
      entry.section.hidden = entry !== current;
      entry.tab.classList.toggle("active", entry === current);
    }
    current.instance.load(params);
    document.body.dataset.ready = "true";  // for tests and screenshots: drawn from the URL
  }

  start();
})(window.Convolab = window.Convolab || {});
