// convolab's 2-D arithmetic in the browser: shapes.py (conv_geometry, resolve_padding,
// explain_shape), padding.py (index_map, check_padding_fits), the padding-mode names and the
// order in which cl.corr2d checks its arguments, with convolab's error messages word for word.
// tests/test_explorer_browser.py compares every number and message with convolab itself.
//
// Python values are written as JavaScript ones: an int is a number, a tuple an array, a str a
// string; CL.pyRepr prints them as Python's repr() does.
(function (CL) {
  "use strict";

  // shapes.PADDING_STRINGS and shapes.PADDING_MODES, in the same order (the order matters:
  // difflib's suggestion breaks ties by it).
  const PADDING_STRINGS = ["valid", "same", "same_lower", "full"];
  const PADDING_MODES = {
    "zeros": "zeros", "zero": "zeros", "constant": "zeros", "grid-constant": "zeros",
    "border_constant": "zeros", "fill": "zeros",
    "reflect": "reflect", "mirror": "reflect", "reflect_101": "reflect", "reflect101": "reflect",
    "border_reflect_101": "reflect", "border_reflect101": "reflect", "border_default": "reflect",
    "symmetric": "symmetric", "symm": "symmetric", "grid-mirror": "symmetric",
    "border_reflect": "symmetric",
    "replicate": "replicate", "edge": "replicate", "nearest": "replicate",
    "border_replicate": "replicate",
    "circular": "circular", "wrap": "circular", "grid-wrap": "circular", "border_wrap": "circular",
  };
  const MODES = ["zeros", "reflect", "replicate", "circular", "symmetric"];
  const AXES = ["height", "width"];
  const SIDES = { height: ["top", "bottom"], width: ["left", "right"] };
  const UNITS = { height: "row", width: "column" };

  // A refusal by convolab: the message is exactly the one convolab's ValueError/TypeError has.
  class ConvolabError extends Error {}

  const isInt = (v) => typeof v === "number" && Number.isInteger(v);

  // ---- repr() -------------------------------------------------------------------------------
  function reprStr(s) {
    const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
    let out = quote;
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (ch === "\\" || ch === quote) out += "\\" + ch;
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0xad) {
        out += "\\x" + c.toString(16).padStart(2, "0");
      } else if (c === 0x2028 || c === 0x2029) out += "\\u" + c.toString(16);
      else out += ch;
    }
    return out + quote;
  }

  function pyRepr(v) {
    if (typeof v === "string") return reprStr(v);
    if (Array.isArray(v)) {
      const items = v.map(pyRepr);
      return items.length === 1 ? "(" + items[0] + ",)" : "(" + items.join(", ") + ")";
    }
    return String(v);
  }

  // ---- difflib.get_close_matches(word, choices, n=1, cutoff=0.5) -----------------------------
  // SequenceMatcher's ratio, 2 * matches / total, with its matching blocks found as difflib
  // finds them (longest match first, then recursively left and right of it; autojunk drops
  // elements of b that are too popular when b has 200 or more).
  function matchRatio(a, b) {
    const b2j = new Map();
    b.forEach((ch, j) => {
      if (!b2j.has(ch)) b2j.set(ch, []);
      b2j.get(ch).push(j);
    });
    if (b.length >= 200) {
      const ntest = Math.floor(b.length / 100) + 1;
      for (const [ch, idx] of [...b2j]) if (idx.length > ntest) b2j.delete(ch);
    }
    function longest(alo, ahi, blo, bhi) {
      let besti = alo, bestj = blo, bestsize = 0;
      let j2len = new Map();
      for (let i = alo; i < ahi; i++) {
        const next = new Map();
        for (const j of b2j.get(a[i]) || []) {
          if (j < blo) continue;
          if (j >= bhi) break;
          const k = (j2len.get(j - 1) || 0) + 1;
          next.set(j, k);
          if (k > bestsize) { besti = i - k + 1; bestj = j - k + 1; bestsize = k; }
        }
        j2len = next;
      }
      // no junk function: extend over equal (possibly popular) elements on both sides
      while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
        besti--; bestj--; bestsize++;
      }
      while (besti + bestsize < ahi && bestj + bestsize < bhi &&
             a[besti + bestsize] === b[bestj + bestsize]) bestsize++;
      return [besti, bestj, bestsize];
    }
    let matches = 0;
    const queue = [[0, a.length, 0, b.length]];
    while (queue.length) {
      const [alo, ahi, blo, bhi] = queue.pop();
      const [i, j, k] = longest(alo, ahi, blo, bhi);
      if (k) {
        matches += k;
        if (alo < i && blo < j) queue.push([alo, i, blo, j]);
        if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
      }
    }
    const total = a.length + b.length;
    return total ? (2 * matches) / total : 1;
  }

  // shapes._suggest: " (did you mean 'same'?)" or "".
  function suggest(value, choices) {
    const word = Array.from(value.toLowerCase());
    let best = null;
    for (const x of choices) {
      const score = matchRatio(Array.from(x), word);
      if (score >= 0.5 && (best === null || score > best[0] ||
                           (score === best[0] && x > best[1]))) best = [score, x];
    }
    return best ? ` (did you mean ${reprStr(best[1])}?)` : "";
  }

  // ---- shapes.py ---------------------------------------------------------------------------
  function normalizePaddingMode(mode) {
    if (typeof mode === "string" && Object.hasOwn(PADDING_MODES, mode.toLowerCase())) {
      return PADDING_MODES[mode.toLowerCase()];
    }
    const hint = typeof mode === "string" ? suggest(mode, Object.keys(PADDING_MODES)) : "";
    throw new ConvolabError(
      "padding_mode: expected one of 'zeros', 'reflect', 'replicate', 'circular', " +
      `'symmetric' (or a NumPy/SciPy/OpenCV alias), got ${pyRepr(mode)}${hint}`);
  }

  // shapes.normalize_tuple for an image's two axes (value: an int or an array of ints).
  function normalizePair(value, name, minimum = 1) {
    let out = null;
    if (isInt(value)) out = [value, value];
    else if (Array.isArray(value) && value.length === 2 && value.every(isInt)) out = value.slice();
    const kind = minimum === 1 ? "a positive int" : `an int >= ${minimum}`;
    if (out === null || Math.min(...out) < minimum) {
      throw new ConvolabError(
        `${name}: expected ${kind} or a pair of them, received ${name}=${pyRepr(value)}`);
    }
    return out;
  }

  function samePads(n, k, s, d, lower) {
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + d * (k - 1) + 1 - n, 0);
    const small = Math.floor(total / 2), large = total - small;
    return lower ? [large, small] : [small, large];
  }

  const isPair = (p) => Array.isArray(p) && p.length === 2 && p.every(isInt);

  // shapes.resolve_padding: [[top, bottom], [left, right]].
  function resolvePadding(padding, inShape, kShape, stride, dilation) {
    if (typeof padding === "string") {
      const key = padding.toLowerCase();
      if (key === "valid") return [[0, 0], [0, 0]];
      if (key === "same" || key === "same_lower") {
        return [0, 1].map((a) => samePads(inShape[a], kShape[a], stride[a], dilation[a],
                                           key === "same_lower"));
      }
      if (key === "full") return [0, 1].map((a) => [dilation[a] * (kShape[a] - 1),
                                                    dilation[a] * (kShape[a] - 1)]);
      throw new ConvolabError(
        "padding: expected 'valid', 'same', 'same_lower', 'full', an int or pairs; " +
        `got ${pyRepr(padding)}${suggest(padding, PADDING_STRINGS)}`);
    }
    let pads = null;
    if (isInt(padding)) pads = [[padding, padding], [padding, padding]];
    else if (Array.isArray(padding) && padding.length === 2) {
      if (padding.every(isInt)) pads = padding.map((p) => [p, p]);
      else if (padding.every(isPair)) pads = padding.map((p) => p.slice());
    }
    if (pads === null) {
      throw new ConvolabError(
        "padding: expected 'valid', 'same', 'same_lower', 'full', an int p, (ph, pw) or " +
        `((top, bottom), (left, right)) of ints; got ${pyRepr(padding)}`);
    }
    if (Math.min(...pads.flat()) < 0) {
      throw new ConvolabError(`padding: expected amounts >= 0, got padding=${pyRepr(padding)}`);
    }
    return pads;
  }

  // shapes.conv_geometry (checked in its order: stride, dilation, padding, kernel size).
  function convGeometry(inShape, kShape, { stride = 1, padding = "valid", dilation = 1 } = {}) {
    const s = normalizePair(stride, "stride");
    const d = normalizePair(dilation, "dilation");
    const pads = resolvePadding(padding, inShape, kShape, s, d);
    const padded = [0, 1].map((a) => inShape[a] + pads[a][0] + pads[a][1]);
    const span = [0, 1].map((a) => d[a] * (kShape[a] - 1) + 1);
    for (let a = 0; a < 2; a++) {
      if (span[a] > padded[a]) {
        throw new ConvolabError(
          `kernel_size: the dilated kernel ${AXES[a]} ${span[a]} (= ${d[a]}*(${kShape[a]}-1)+1) ` +
          `is larger than the padded input ${AXES[a]} ${padded[a]} (= ${inShape[a]} + padding ` +
          `${pyRepr(pads[a])}); it must be at most that`);
      }
    }
    const out = [0, 1].map((a) => Math.floor((padded[a] - span[a]) / s[a]) + 1);
    return { inShape: inShape.slice(), kShape: kShape.slice(), stride: s, dilation: d, pads,
             padded, span, out };
  }

  // shapes.explain_shape, word for word.
  function explainShape(inShape, kShape, options = {}) {
    const g = convGeometry(inShape, kShape, options);
    const padding = options.padding === undefined ? "valid" : options.padding;
    const sizes = (p) => p.join("x");
    const lines = [
      `input ${sizes(g.inShape)}, kernel ${sizes(g.kShape)}, stride ${sizes(g.stride)}, ` +
      `dilation ${sizes(g.dilation)}, padding ${pyRepr(padding)} -> output ${sizes(g.out)}`];
    for (let a = 0; a < 2; a++) {
      const name = AXES[a], n = g.inShape[a], k = g.kShape[a], s = g.stride[a];
      const d = g.dilation[a], [before, after] = g.pads[a], [sideA, sideB] = SIDES[name];
      lines.push(
        `${name}: padding ${before} ${sideA} + ${after} ${sideB}; out = floor((${n} + ${before} ` +
        `+ ${after} - ${d}*(${k}-1) - 1) / ${s}) + 1 = ${g.out[a]}`);
      const dropped = (n + before + after - g.span[a]) % s;
      if (dropped) {
        const unit = UNITS[name];
        const what = dropped === 1 ? `last ${unit} of the padded input is`
          : `last ${dropped} ${unit}s of the padded input are`;
        lines.push(
          `  note: stride ${s} does not tile the padded ${name}: the ${what} never covered ` +
          "by a window and dropped (as PyTorch and TensorFlow do)");
      }
    }
    return lines.join("\n");
  }

  // ---- padding.py --------------------------------------------------------------------------
  const LIMITS = { reflect: [(n) => n - 1, "less than"], symmetric: [(n) => n, "at most"],
                   circular: [(n) => n, "at most"] };

  function checkPaddingFits(inShape, pads, mode) {
    for (let a = 0; a < 2; a++) {
      const n = inShape[a], [before, after] = pads[a];
      if (n === 0 && mode !== "zeros" && before + after > 0) {
        throw new ConvolabError(
          `padding: padding_mode=${pyRepr(mode)} has no pixels to copy from an input ` +
          `${AXES[a]} of 0; only padding_mode='zeros' pads an empty axis`);
      }
      if (LIMITS[mode] && Math.max(before, after) > LIMITS[mode][0](n)) {
        throw new ConvolabError(
          `padding: padding_mode=${pyRepr(mode)} needs padding ${LIMITS[mode][1]} the input ` +
          `${AXES[a]} ${n} on each side, got ${pyRepr([before, after])}`);
      }
    }
  }

  const mod = (a, n) => ((a % n) + n) % n;  // Python's %: never negative

  // padding.index_map: the input index each padded position copies, or -1 for a zero.
  function indexMap(n, before, after, mode) {
    const out = [];
    for (let p = -before; p < n + after; p++) {
      if (before === 0 && after === 0) out.push(p);
      else if (mode === "zeros") out.push(p >= 0 && p < n ? p : -1);
      else if (mode === "replicate") out.push(Math.min(Math.max(p, 0), n - 1));
      else if (mode === "circular") out.push(mod(p, n));
      else if (mode === "reflect") {
        const period = 2 * (n - 1);
        if (period === 0) { out.push(0); continue; }
        const q = mod(p, period);
        out.push(q < n ? q : period - q);
      } else if (mode === "symmetric") {
        const q = mod(p, 2 * n);
        out.push(q < n ? q : 2 * n - 1 - q);
      } else throw new ConvolabError(`padding_mode: unknown canonical mode ${pyRepr(mode)}`);
    }
    return out;
  }

  // ---- the primitives --------------------------------------------------------------------
  // cl.corr2d(X, K, padding=, stride=, dilation=, padding_mode=), or cl.convolve2d (flip=true):
  // the arguments checked in convolab's order, then every output as the sum over the taps in
  // row-major order. Returns the geometry, the padded input (xp, with srcRow/srcCol: the input
  // index each padded row/column copies, -1 for zero padding), the kernel that slides (flipped
  // for convolution) and the output y.
  function corr2d(X, K, { padding = "valid", stride = 1, dilation = 1, paddingMode = "zeros",
                          flip = false } = {}) {
    const mode = normalizePaddingMode(paddingMode);
    const inShape = [X.length, X[0].length], kShape = [K.length, K[0].length];
    const g = convGeometry(inShape, kShape, { stride, padding, dilation });
    checkPaddingFits(inShape, g.pads, mode);
    const srcRow = indexMap(inShape[0], g.pads[0][0], g.pads[0][1], mode);
    const srcCol = indexMap(inShape[1], g.pads[1][0], g.pads[1][1], mode);
    const xp = srcRow.map((r) => srcCol.map((c) => (r < 0 || c < 0 ? 0 : X[r][c])));
    const [kh, kw] = kShape;
    const k = flip ? K.map((row, a) => K[kh - 1 - a].map((_, b) => K[kh - 1 - a][kw - 1 - b]))
      : K.map((row) => row.slice());
    const y = [];
    for (let i = 0; i < g.out[0]; i++) {
      const row = [];
      for (let j = 0; j < g.out[1]; j++) row.push(windowSum(xp, k, g, i, j).sum);
      y.push(row);
    }
    return { geom: g, mode, xp, srcRow, srcCol, k, y };
  }

  // The taps of output (i, j): each padded-input cell, kernel value and product, and their sum.
  function windowSum(xp, k, g, i, j) {
    const taps = [];
    let sum = 0;
    for (let a = 0; a < k.length; a++) {
      for (let b = 0; b < k[0].length; b++) {
        const r = i * g.stride[0] + a * g.dilation[0], c = j * g.stride[1] + b * g.dilation[1];
        const product = xp[r][c] * k[a][b];
        sum += product;
        taps.push({ a, b, r, c, x: xp[r][c], k: k[a][b], product });
      }
    }
    return { taps, sum };
  }

  // plots.fmt_number: rounded to 2 decimals (half to even on exact ties, as Python's round),
  // trailing zeros dropped, never "-0".
  function fmtNumber(v) {
    let s;
    const eighths = Math.abs(v) * 8;  // exact ties of x.xx5 are odd multiples of 1/8
    if (Number.isInteger(eighths) && eighths % 2 === 1) {
      const hundredths = Math.abs(v) * 100, low = Math.floor(hundredths);
      const r = (low % 2 === 0 ? low : low + 1) / 100;
      s = (v < 0 ? "-" : "") + r.toFixed(2);
    } else s = v.toFixed(2);
    if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }

  CL.ConvolabError = ConvolabError;
  CL.pyRepr = pyRepr;
  CL.fmtNumber = fmtNumber;
  CL.conv = {
    PADDING_STRINGS, PADDING_MODES, MODES, suggest, normalizePaddingMode, normalizePair,
    resolvePadding, convGeometry, explainShape, checkPaddingFits, indexMap, corr2d, windowSum,
  };
})(window.Convolab = window.Convolab || {});
