// Shared by every view: the page's state lives in the URL fragment,
// "#view=conv&x=0,1,2;3,4,5;6,7,8&k=0,1;2,3&padding=same&stride=1,2", so any state can be
// linked, bookmarked and tested. A view reads its parameters with CL.hash.read() and writes
// them back with CL.hash.write() (history.replaceState: no reload, no hashchange event).
(function (CL) {
  "use strict";

  // encodeURIComponent, but keeping the separators of lists and rows readable.
  const encode = (v) => encodeURIComponent(v).replace(/%2C/g, ",").replace(/%3B/g, ";");

  function decode(v) {
    try {
      return decodeURIComponent(v);
    } catch (e) {  // a malformed %-escape: take the text as it is
      return v;
    }
  }

  // "#view=conv&a=1" -> {view: "conv", params: Map {a: "1"}}
  function read(hash = location.hash) {
    const params = new Map();
    for (const part of hash.replace(/^#/, "").split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const key = decode(eq < 0 ? part : part.slice(0, eq));
      params.set(key, eq < 0 ? "" : decode(part.slice(eq + 1)));
    }
    const view = params.get("view") || "";
    params.delete("view");
    return { view, params };
  }

  // The fragment for a view and its [key, value] entries (in order).
  function format(view, entries) {
    return "#" + [["view", view], ...entries].map(([k, v]) => `${encode(k)}=${encode(v)}`)
      .join("&");
  }

  function write(view, entries) {
    const hash = format(view, entries);
    if (hash !== location.hash) history.replaceState(null, "", hash);
  }

  // ---- values in the URL -------------------------------------------------------------------
  const INTS = /^-?\d+(,-?\d+)*$/;

  // "3" -> 3 and "1,2" -> [1, 2] (Python's int and tuple), or null if not ints.
  function parseInts(text) {
    if (!INTS.test(text)) return null;
    const v = text.split(",").map(Number);
    return v.length === 1 ? v[0] : v;
  }

  // "0,1;2,3" -> [[0, 1], [2, 3]], or null if not a rectangle of finite numbers.
  function parseMatrix(text) {
    const rows = text.split(";").map((r) => r.split(",").map((v) => (v.trim() === "" ? NaN
                                                                       : Number(v))));
    const ok = rows.length > 0 && rows.every((r) => r.length === rows[0].length &&
                                              r.every(Number.isFinite));
    return ok ? rows : null;
  }

  // Numbers as JavaScript writes them (the shortest text that reads back the same double,
  // as Python's repr does): "0,1;2,3".
  const formatMatrix = (m) => m.map((r) => r.map(String).join(",")).join(";");

  // A Python value (int, tuple of ints or of pairs, str) as a URL value: 1, "1,2", "1,2,0,1",
  // "same"; the inverse of parseInts for what it can read.
  const formatValue = (v) => (Array.isArray(v) ? v.flat().join(",") : String(v));

  CL.hash = { read, write, format, parseInts, parseMatrix, formatMatrix, formatValue };
})(window.Convolab = window.Convolab || {});
