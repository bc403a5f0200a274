// The convolution view: an input X and a kernel K, padding, padding mode, stride, dilation,
// cross-correlation or true convolution; the padded input with the dilated window at the
// current output position, the products and their sum, the output filling in (step, play,
// pause, scrub) and the shape arithmetic as cl.explain_shape writes it.
//
// Its URL parameters (everything optional; a Python value is an int, ints separated by commas
// for a tuple, or text for a str):
//   x=0,1,2;3,4,5;6,7,8   the input, rows separated by ";" (1 to 16 rows and columns)
//   k=0,1;2,3             the kernel (1 to 7 rows and columns)
//   padding=valid         'valid', 'same', 'same_lower', 'full', 1 (int), 2,1 ((ph, pw)) or
//                         1,2,0,1 (((top, bottom), (left, right)))
//   mode=zeros            padding_mode: zeros, reflect, replicate, circular, symmetric (or an
//                         alias convolab takes)
//   stride=1,2  dilation=1   an int or (vertical, horizontal)
//   op=corr               corr (cl.corr2d) or conv (cl.convolve2d)
//   t=0                   the output position shown (row-major index)
(function (CL) {
  "use strict";
  const { h } = CL;
  const MAX_INPUT = 16, MAX_KERNEL = 7, MAX_STEP = 4, MAX_PAD = 7;
  const PLAY_MS = 700;

  // ---- presets -----------------------------------------------------------------------------
  const fill = (rows, cols, f) =>
    Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => f(r, c)));
  const randint = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
  const binomial = (n) => {  // row n-1 of Pascal's triangle: 1 2 1 for n = 3
    const row = [1];
    for (let i = 1; i < n; i++) row.push((row[i - 1] * (n - i)) / i);
    return row;
  };
  const INPUTS = {
    arange: { label: "0, 1, 2, ... (row by row)", make: (H, W) => fill(H, W, (r, c) => r * W + c) },
    edge: { label: "white with a black band (6.2.3)",  // the book's 6x8: columns 2 to 5 black
            make: (H, W) => {
              const band = Math.max(1, Math.floor(W / 4));
              return fill(H, W, (r, c) => (c >= band && c < W - band ? 0 : 1));
            } },
    random: { label: "random integers 0..9", make: (H, W) => fill(H, W, () => randint(0, 9)) },
  };
  const KERNELS = {
    edge: { label: "[[1, -1]]: vertical edges (6.2.3)", make: () => [[1, -1]] },
    book: { label: "[[0, 1], [2, 3]] on X = 0..8 (6.2.1)", make: () => [[0, 1], [2, 3]],
            input: () => INPUTS.arange.make(3, 3) },
    sobel_x: { label: "Sobel x", make: () => [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] },
    sobel_y: { label: "Sobel y", make: () => [[-1, -2, -1], [0, 0, 0], [1, 2, 1]] },
    box: { label: "box (the mean)", sized: true,
           make: (kh, kw) => fill(kh, kw, () => 1 / (kh * kw)) },
    gaussian: { label: "Gaussian (binomial)", sized: true,
                make: (kh, kw) => {  // exact in binary: the weights sum to a power of two
                  const a = binomial(kh), b = binomial(kw), total = 2 ** (kh + kw - 2);
                  return fill(kh, kw, (r, c) => (a[r] * b[c]) / total);
                } },
    random: { label: "random integers -3..3", sized: true,
              make: (kh, kw) => fill(kh, kw, () => randint(-3, 3)) },
  };
  const PADDINGS = ["valid", "same", "same_lower", "full"];

  const DEFAULT = () => ({
    x: INPUTS.arange.make(3, 3), k: [[0, 1], [2, 3]], padding: "valid", mode: "zeros",
    stride: 1, dilation: 1, op: "corr", t: 0,
  });

  const resize = (m, rows, cols) => fill(rows, cols, (r, c) => (m[r] && m[r][c] !== undefined
                                                                 ? m[r][c] : 0));
  const pair = (v) => (Array.isArray(v) ? v : [v, v]);
  // a term of the sum: negative numbers in parentheses, "2×(-1)"
  const term = (v) => (v < 0 ? `(${CL.fmtNumber(v)})` : CL.fmtNumber(v));

  function create(root) {
    let state = DEFAULT();
    let notices = [];
    let timer = null;
    const el = {};  // the elements render() fills, by name

    // ---- controls ----------------------------------------------------------------------------
    // a whole-number field; sizes act on "change" (Enter, leaving the field, the arrows) so
    // that typing 16 does not pass through 1
    const number = (id, label, min, max, onchange, event = "input") => {
      const input = h("input", { type: "number", id, min, max, step: 1, "aria-label": label });
      input.addEventListener(event, () => {
        const v = Number(input.value);
        if (input.value !== "" && Number.isInteger(v)) onchange(v);
      });
      return input;
    };
    const select = (id, label, options, onchange) => {
      const s = h("select", { id, "aria-label": label },
                  options.map(([value, text]) => h("option", { value, text })));
      s.addEventListener("change", () => onchange(s.value));
      return s;
    };
    const update = (change) => { change(); stop(); render(); };

    const size = (id, label, max, resize) =>
      number(id, label, 1, max, (v) => update(() => resize(v)), "change");
    el.h = size("conv-h", "input height", MAX_INPUT, (v) => resizeInput(v, null));
    el.w = size("conv-w", "input width", MAX_INPUT, (v) => resizeInput(null, v));
    el.xPreset = select("conv-x-preset", "input values",
                        [["", "custom"], ...Object.entries(INPUTS).map(([k, p]) => [k, p.label])],
                        (v) => update(() => {
                          if (v) state.x = INPUTS[v].make(state.x.length, state.x[0].length);
                        }));
    el.kh = size("conv-kh", "kernel height", MAX_KERNEL, (v) => resizeKernel(v, null));
    el.kw = size("conv-kw", "kernel width", MAX_KERNEL, (v) => resizeKernel(null, v));
    el.kPreset = select("conv-k-preset", "kernel values",
                        [["", "custom"], ...Object.entries(KERNELS).map(([k, p]) => [k, p.label])],
                        (v) => update(() => applyKernel(v)));
    el.xEdit = h("div", { class: "editor", id: "conv-x-edit" });
    el.kEdit = h("div", { class: "editor", id: "conv-k-edit" });
    el.padding = select("conv-padding", "padding",
                        [...PADDINGS.map((p) => [p, `'${p}'`]), ["explicit", "explicit, per side"]],
                        (v) => update(() => choosePadding(v)));
    el.sides = ["top", "bottom", "left", "right"].map((side, i) =>
      number(`conv-pad-${side}`, `padding ${side}`, 0, MAX_PAD, (v) => update(() => {
        const p = explicitSides();
        p[i] = v;
        state.padding = [[p[0], p[1]], [p[2], p[3]]];
      })));
    el.sidesBox = h("div", { class: "sides" }, ["top", "bottom", "left", "right"].map(
      (side, i) => h("label", {}, side, el.sides[i])));
    el.mode = select("conv-mode", "padding mode", CL.conv.MODES.map((m) => [m, m]),
                     (v) => update(() => { state.mode = v; }));
    const axisPair = (name, max) => [0, 1].map((a) =>
      number(`conv-${name}-${a}`, `${name} ${a ? "horizontal" : "vertical"}`, 1, max,
             (v) => update(() => {
               const p = pair(state[name]).slice();
               p[a] = v;
               state[name] = p;
             })));
    el.stride = axisPair("stride", MAX_STEP);
    el.dilation = axisPair("dilation", MAX_STEP);
    el.op = ["corr", "conv"].map((op) => {
      const radio = h("input", { type: "radio", name: "conv-op", id: `conv-op-${op}`, value: op });
      radio.addEventListener("change", () => update(() => { state.op = op; }));
      return radio;
    });

    const controls = h("form", { class: "controls", onsubmit: (e) => e.preventDefault() },
      h("fieldset", {}, h("legend", { text: "Input X" }),
        h("label", {}, "height ", el.h), h("label", {}, " width ", el.w),
        h("label", { class: "wide" }, "values ", el.xPreset), el.xEdit),
      h("fieldset", {}, h("legend", { text: "Kernel K" }),
        h("label", {}, "height ", el.kh), h("label", {}, " width ", el.kw),
        h("label", { class: "wide" }, "values ", el.kPreset), el.kEdit),
      h("fieldset", {}, h("legend", { text: "Padding" }),
        h("label", { class: "wide" }, "padding ", el.padding), el.sidesBox,
        h("label", { class: "wide" }, "padding_mode ", el.mode)),
      h("fieldset", {}, h("legend", { text: "Stride and dilation" }),
        h("label", {}, "stride ", el.stride[0], " × ", el.stride[1]),
        h("label", {}, "dilation ", el.dilation[0], " × ", el.dilation[1])),
      h("fieldset", {}, h("legend", { text: "Operation" }),
        h("label", {}, el.op[0], " cross-correlation, cl.corr2d (what conv layers compute)"),
        h("label", {}, el.op[1], " true convolution, cl.convolve2d (the kernel flipped)")));

    // ---- the stage ---------------------------------------------------------------------------
    el.notice = h("p", { class: "notice", id: "conv-notice", hidden: true });
    el.call = h("code", { id: "conv-call" });
    el.error = h("p", { class: "error", id: "conv-error", role: "alert", hidden: true });
    el.input = h("div", { class: "panel", id: "conv-input" });
    el.kernel = h("div", { class: "panel", id: "conv-kernel" });
    el.flipped = h("div", { class: "panel", id: "conv-flipped" });
    el.output = h("div", { class: "panel", id: "conv-output" });
    el.products = h("div", { class: "panel", id: "conv-products" });
    el.sum = h("p", { class: "sum", id: "conv-sum" });
    el.position = h("p", { class: "position", id: "conv-position" });
    const button = (id, text, title, onclick) => h("button", { type: "button", id, title, onclick },
                                                   text);
    el.first = button("conv-first", "|◀ first", "first output", () => { stop(); setT(0); });
    el.back = button("conv-back", "◀ back", "previous output",
                     () => { stop(); setT(state.t - 1); });
    el.play = button("conv-play", "▶ play", "play / pause", () => (timer ? stop() : play()));
    el.step = button("conv-step", "step ▶", "next output", () => { stop(); setT(state.t + 1); });
    el.last = button("conv-last", "last ▶|", "last output (all filled)",
                     () => { stop(); setT(Infinity); });
    el.scrub = h("input", { type: "range", id: "conv-scrub", min: 0, max: 0, step: 1,
                            "aria-label": "output position" });
    el.scrub.addEventListener("input", () => { stop(); setT(Number(el.scrub.value)); });
    const player = [el.first, el.back, el.play, el.step, el.last, el.scrub];
    el.explain = h("pre", { class: "explain", id: "conv-explain" });
    el.legend = h("p", { class: "legend" },
      h("span", { class: "cell pad" }), " padding  ", h("span", { class: "cell tap" }),
      " the window's taps  ", h("span", { class: "cell span" }), " inside the dilated window  ",
      h("span", { class: "cell dropped" }), " never covered (dropped)  ",
      h("span", { class: "cell current" }), " the output being computed");

    const stage = h("div", { class: "stage" },
      el.notice,
      h("p", { class: "call" }, el.call),
      el.error,
      h("div", { class: "panels" }, el.input, el.kernel, el.flipped, el.output),
      el.legend,
      h("div", { class: "player" }, player),
      el.position,
      h("div", { class: "panels" }, el.products),
      el.sum,
      h("h3", { text: "The output's shape, as cl.explain_shape writes it" }),
      el.explain);
    root.append(h("div", { class: "layout" }, controls, stage));

    // ---- state changes -----------------------------------------------------------------------
    function resizeInput(H, W) {
      H = H ?? state.x.length;
      W = W ?? state.x[0].length;
      if (H < 1 || W < 1 || H > MAX_INPUT || W > MAX_INPUT) return;
      const preset = el.xPreset.value;
      state.x = preset && preset !== "random" ? INPUTS[preset].make(H, W) : resize(state.x, H, W);
    }
    function resizeKernel(kh, kw) {
      kh = kh ?? state.k.length;
      kw = kw ?? state.k[0].length;
      if (kh < 1 || kw < 1 || kh > MAX_KERNEL || kw > MAX_KERNEL) return;
      const preset = KERNELS[el.kPreset.value];
      state.k = preset && preset.sized ? preset.make(kh, kw) : resize(state.k, kh, kw);
      if (preset && !preset.sized) el.kPreset.value = "";
    }
    function applyKernel(name) {
      const preset = KERNELS[name];
      if (!preset) return;
      state.k = preset.make(state.k.length, state.k[0].length);
      if (preset.input) state.x = preset.input();
    }
    function explicitSides() {  // the four side inputs' values: [top, bottom, left, right]
      return el.sides.map((s) => Math.max(0, Number(s.value) || 0));
    }
    function choosePadding(v) {
      if (v === "explicit") {  // start from the amounts the current padding puts on each side
        let pads = [[0, 0], [0, 0]];
        try {
          const { x, k } = state;
          pads = CL.conv.resolvePadding(state.padding, [x.length, x[0].length],
                                        [k.length, k[0].length],
                                        CL.conv.normalizePair(state.stride, "stride"),
                                        CL.conv.normalizePair(state.dilation, "dilation"));
        } catch (e) {
          if (!(e instanceof CL.ConvolabError)) throw e;
        }
        state.padding = pads;
      } else if (PADDINGS.includes(v)) state.padding = v;
    }

    function setT(t) {
      state.t = t;
      render();
    }
    function play() {
      if (el.play.disabled) return;
      if (state.t >= outputCount() - 1) state.t = -1;  // from the start again
      timer = setInterval(() => {
        if (state.t < outputCount() - 1) setT(state.t + 1);
        if (state.t >= outputCount() - 1) stop();
      }, PLAY_MS);
      el.play.textContent = "❚❚ pause";
      setT(state.t + 1);
    }
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      el.play.textContent = "▶ play";
    }
    let lastResult = null;
    const outputCount = () => (lastResult ? lastResult.y.length * lastResult.y[0].length : 0);

    // ---- from and to the URL -------------------------------------------------------------
    function load(params) {
      stop();
      state = DEFAULT();
      notices = [];
      const ignore = (key, why) =>
        notices.push(`ignored ${key}=${params.get(key)} in the URL: ${why}`);
      const matrix = (key, max) => {
        if (!params.has(key)) return;
        const m = CL.hash.parseMatrix(params.get(key));
        if (!m) ignore(key, "expected numbers, rows separated by ';' and of one length");
        else if (m.length > max || m[0].length > max) ignore(key, `at most ${max}x${max} here`);
        else state[key] = m;
      };
      matrix("x", MAX_INPUT);
      matrix("k", MAX_KERNEL);
      if (params.has("padding")) {
        const text = params.get("padding"), ints = CL.hash.parseInts(text);
        // 1 -> 1, "2,1" -> (2, 1), "1,2,0,1" -> ((1, 2), (0, 1)); any other text is a str
        state.padding = ints === null ? text : Array.isArray(ints) && ints.length === 4
          ? [[ints[0], ints[1]], [ints[2], ints[3]]] : ints;
      }
      if (params.has("mode")) state.mode = params.get("mode");
      for (const key of ["stride", "dilation"]) {
        if (!params.has(key)) continue;
        const v = CL.hash.parseInts(params.get(key));
        if (v === null) ignore(key, "expected an int or ints separated by ','");
        else state[key] = v;
      }
      if (params.has("op")) {
        if (["corr", "conv"].includes(params.get("op"))) state.op = params.get("op");
        else ignore("op", "expected corr or conv");
      }
      if (params.has("t")) {
        const t = Number(params.get("t"));
        if (Number.isInteger(t) && t >= 0) state.t = t;
        else ignore("t", "expected an int >= 0");
      }
      el.xPreset.value = "";
      el.kPreset.value = "";
      render();
    }

    function toHash() {
      CL.hash.write("conv", [
        ["x", CL.hash.formatMatrix(state.x)], ["k", CL.hash.formatMatrix(state.k)],
        ["padding", CL.hash.formatValue(state.padding)], ["mode", state.mode],
        ["stride", CL.hash.formatValue(state.stride)],
        ["dilation", CL.hash.formatValue(state.dilation)], ["op", state.op], ["t", state.t]]);
    }

    // ---- drawing ---------------------------------------------------------------------------
    // Put the state into the controls (only where they differ: the field being typed in keeps
    // its text).
    function syncControls() {
      const setv = (input, v) => { if (String(input.value) !== String(v)) input.value = v; };
      setv(el.h, state.x.length);
      setv(el.w, state.x[0].length);
      setv(el.kh, state.k.length);
      setv(el.kw, state.k[0].length);
      syncEditor(el.xEdit, "x", el.xPreset);
      syncEditor(el.kEdit, "k", el.kPreset);
      const p = state.padding;
      el.padding.querySelector("option[data-url]")?.remove();
      if (typeof p === "string" && PADDINGS.includes(p.toLowerCase())) {
        el.padding.value = p.toLowerCase();
      } else if (typeof p === "string" || (Array.isArray(p) && p.length !== 2)) {
        el.padding.appendChild(h("option", { value: "url", "data-url": true,
                                             text: `${CL.pyRepr(p)} (from the URL)` }));
        el.padding.value = "url";
      } else el.padding.value = "explicit";
      const explicit = el.padding.value === "explicit";
      el.sidesBox.hidden = !explicit;
      if (explicit) {
        const sides = Number.isInteger(p) ? [p, p, p, p] : Array.isArray(p[0]) ? p.flat()
          : [p[0], p[0], p[1], p[1]];
        el.sides.forEach((input, i) => setv(input, sides[i]));
      }
      el.mode.querySelector("option[data-url]")?.remove();
      if (CL.conv.MODES.includes(state.mode)) el.mode.value = state.mode;
      else {  // an alias (convolab's own word for it in the error, if any) or an unknown name
        el.mode.appendChild(h("option", { value: "url", "data-url": true,
                                          text: `${CL.pyRepr(state.mode)} (from the URL)` }));
        el.mode.value = "url";
      }
      for (const name of ["stride", "dilation"]) {  // (1, 2, 3) from a URL shows its first two
        el[name].forEach((input, a) => setv(input, pair(state[name])[a] ?? ""));
      }
      el.op.forEach((radio) => { radio.checked = radio.value === state.op; });
    }

    // The editable grid of X or K: rebuilt when its size changes, otherwise only the values
    // that differ are written (the cell being edited keeps its focus).
    function syncEditor(box, name, preset) {
      const m = state[name], grid = box.querySelector(".grid");
      const cells = grid ? grid.querySelectorAll("input") : [];
      if (cells.length === m.length * m[0].length && grid.dataset.cols === String(m[0].length)) {
        cells.forEach((cell) => {
          const v = String(m[cell.dataset.r][cell.dataset.c]);
          if (cell.value !== v && cell !== document.activeElement) cell.value = v;
        });
        return;
      }
      CL.drawGrid(box, m.length, m[0].length, (r, c) => ({ text: String(m[r][c]) }), {
        label: name.toUpperCase(),
        editable: (r, c, v) => update(() => { state[name][r][c] = v; preset.value = ""; }),
      }).dataset.cols = m[0].length;
    }

    function render() {
      syncControls();
      const { x, k } = state;
      const inShape = [x.length, x[0].length], kShape = [k.length, k[0].length];
      const fn = state.op === "conv" ? "convolve2d" : "corr2d";
      el.call.textContent = `cl.${fn}(X, K, padding=${CL.pyRepr(state.padding)}, ` +
        `stride=${CL.pyRepr(state.stride)}, dilation=${CL.pyRepr(state.dilation)}, ` +
        `padding_mode=${CL.pyRepr(state.mode)})`;
      el.notice.textContent = notices.join("; ");
      el.notice.hidden = notices.length === 0;

      let explanation = "";
      try {
        explanation = CL.conv.explainShape(inShape, kShape, { stride: state.stride,
          padding: state.padding, dilation: state.dilation });
      } catch (e) {
        if (!(e instanceof CL.ConvolabError)) throw e;
      }
      el.explain.textContent = explanation;
      el.explain.hidden = !explanation;

      let result = null;
      try {
        result = CL.conv.corr2d(x, k, { padding: state.padding, stride: state.stride,
          dilation: state.dilation, paddingMode: state.mode, flip: state.op === "conv" });
        el.error.textContent = "";
        el.error.hidden = true;
      } catch (e) {
        if (!(e instanceof CL.ConvolabError)) throw e;
        el.error.textContent = e.message;
        el.error.hidden = false;
      }
      lastResult = result;
      root.classList.toggle("refused", !result);
      if (!result) {
        // what convolab refuses has no padded input, window or output: the input as given
        CL.drawGrid(el.input, inShape[0], inShape[1], (r, c) => ({ text: CL.fmtNumber(x[r][c]) }),
                    { caption: `X, ${inShape.join("x")} (convolab refuses this configuration)` });
        drawKernel(k, null);
        for (const name of ["output", "products", "flipped"]) el[name].replaceChildren();
        el.sum.textContent = el.position.textContent = "";
        player.forEach((b) => { b.disabled = true; });
        toHash();
        return;
      }
      const g = result.geom, [Ho, Wo] = g.out, count = Ho * Wo;
      state.t = Math.max(0, Math.min(Number.isFinite(state.t) ? state.t : count - 1, count - 1));
      const i = Math.floor(state.t / Wo), j = state.t % Wo;
      const win = CL.conv.windowSum(result.xp, result.k, g, i, j);
      drawInput(result, win, i, j);
      drawKernel(k, result.k);
      drawOutput(result, Ho, Wo);
      drawProducts(result, win, i, j);
      player.forEach((b) => { b.disabled = false; });
      el.first.disabled = el.back.disabled = state.t === 0;
      el.step.disabled = el.last.disabled = state.t === count - 1;
      el.scrub.max = count - 1;
      el.scrub.value = state.t;
      toHash();
    }

    function drawInput(res, win, i, j) {
      const g = res.geom, [[top], [left]] = g.pads, [H, W] = g.inShape;
      const taps = new Set(win.taps.map((tp) => `${tp.r},${tp.c}`));
      const r0 = i * g.stride[0], c0 = j * g.stride[1];
      // rows/columns past the last window: the explanation's "dropped" note
      const lastRow = (g.out[0] - 1) * g.stride[0] + g.span[0];
      const lastCol = (g.out[1] - 1) * g.stride[1] + g.span[1];
      const padded = g.pads.some((p) => p[0] || p[1]);
      CL.drawGrid(el.input, res.xp.length, res.xp[0].length, (r, c) => {
        const inside = r >= top && r < top + H && c >= left && c < left + W;
        const cls = [inside ? "x" : "pad"];
        if (taps.has(`${r},${c}`)) cls.push("tap");
        else if (r >= r0 && r < r0 + g.span[0] && c >= c0 && c < c0 + g.span[1]) cls.push("span");
        if (r >= lastRow || c >= lastCol) cls.push("dropped");
        const sr = res.srcRow[r], sc = res.srcCol[c];
        const title = inside ? `X[${r - top}, ${c - left}]`
          : sr < 0 || sc < 0 ? "padding: zero" : `padding (${res.mode}): a copy of X[${sr}, ${sc}]`;
        return { text: CL.fmtNumber(res.xp[r][c]), cls: cls.join(" "), title, value: res.xp[r][c] };
      }, { caption: padded ? `X padded by ${CL.pyRepr(g.pads)} (${res.mode}), ` +
             `${res.xp.length}x${res.xp[0].length}` : `X, ${H}x${W} (no padding)`,
           label: "padded input" });
    }

    function drawKernel(k, sliding) {
      CL.drawGrid(el.kernel, k.length, k[0].length,
                  (r, c) => ({ text: CL.fmtNumber(k[r][c]), cls: "k", value: k[r][c] }),
                  { caption: `K, ${k.length}x${k[0].length}`, label: "kernel" });
      if (sliding && state.op === "conv") {
        CL.drawGrid(el.flipped, sliding.length, sliding[0].length,
                    (r, c) => ({ text: CL.fmtNumber(sliding[r][c]), cls: "k",
                                 value: sliding[r][c] }),
                    { caption: "K flipped: what slides", label: "flipped kernel" });
      } else el.flipped.replaceChildren();
    }

    function drawOutput(res, Ho, Wo) {
      CL.drawGrid(el.output, Ho, Wo, (r, c) => {
        const index = r * Wo + c, v = res.y[r][c];
        const done = index <= state.t;
        return { text: done ? CL.fmtNumber(v) : "", value: v,
                 cls: (done ? "filled" : "pending") + (index === state.t ? " current" : ""),
                 title: `output [${r}, ${c}]` };
      }, { caption: `output, ${Ho}x${Wo}`, label: "output",
           onclick: (r, c) => { stop(); setT(r * Wo + c); } });
    }

    function drawProducts(res, win, i, j) {
      const k = res.k;
      CL.drawGrid(el.products, k.length, k[0].length, (a, b) => {
        const tp = win.taps[a * k[0].length + b];
        return { text: CL.fmtNumber(tp.product), value: tp.product,
                 title: `${CL.fmtNumber(tp.x)} × ${CL.fmtNumber(tp.k)}` };
      }, { caption: "products, window × kernel", label: "products" });
      el.sum.replaceChildren(
        win.taps.map((tp) => `${term(tp.x)}×${term(tp.k)}`).join(" + ") + " = ",
        h("b", { id: "conv-sum-value", "data-value": String(win.sum),
                 text: CL.fmtNumber(win.sum) }));
      const g = res.geom;
      const taps = (a) => Array.from({ length: g.kShape[a] },
                                     (_, n) => (a ? j : i) * g.stride[a] + n * g.dilation[a]);
      el.position.textContent =
        `output [${i}, ${j}], ${state.t + 1} of ${g.out[0] * g.out[1]}: the window's taps on ` +
        `rows ${taps(0).join(", ")} and columns ${taps(1).join(", ")} of the padded input ` +
        `(stride ${g.stride.join("x")}, dilation ${g.dilation.join("x")})`;
    }

    return { load };
  }

  CL.registerView({ id: "conv", title: "Convolution step by step", create });
})(window.Convolab = window.Convolab || {});
