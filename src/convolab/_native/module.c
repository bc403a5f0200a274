/* convolab._native._core: the Python entry points of the compiled kernels.
 *
 * Each entry point unpacks buffers (C-contiguous, of the dtype its format says), checks every
 * size against the buffers' lengths so that no argument can make a kernel read or write
 * outside them, releases the GIL and calls the kernel the dispatch table holds for this CPU.
 * Validation of user input happens in Python (convolab.ops); these checks guard memory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "isa.h"
#include "bell.h"
#include "planar.h"
#include "region.h"
#include "small.h"
#include "transpose.h"

/* ---- buffers ---------------------------------------------------------------------------- */

struct buf {
    Py_buffer view;
    int held;
};

static void release(struct buf *b)
{
    if (b->held)
        PyBuffer_Release(&b->view);
    b->held = 0;
}

static void release_all(struct buf *bufs, int n)
{
    for (int i = 0; i < n; ++i)
        release(&bufs[i]);
}

/* What an entry point returns after its kernel: None, or MemoryError when the kernel could
 * not allocate its scratch (rc < 0). */
static PyObject *kernel_result(int rc)
{
    if (rc < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* A C-contiguous buffer of `obj` of floats ("f"/"d", itemsize 0: either) or int64 ("i8"). */
static int get(PyObject *obj, struct buf *b, const char *what, int writable, const char *kind,
               Py_ssize_t itemsize)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0)
        return -1;
    b->held = 1;
    const char *f = b->view.format ? b->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        ++f;
    int ok;
    if (strcmp(kind, "float") == 0)
        ok = (strcmp(f, "f") == 0 && b->view.itemsize == 4)
            || (strcmp(f, "d") == 0 && b->view.itemsize == 8);
    else
        ok = (strcmp(f, "l") == 0 || strcmp(f, "q") == 0) && b->view.itemsize == 8;
    if (ok && itemsize && b->view.itemsize != itemsize)
        ok = 0;
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous %s buffer%s, got format '%s'",
                     what, strcmp(kind, "float") == 0 ? "float32/float64" : "int64",
                     itemsize ? " of the input's dtype" : "", f);
        release(b);
        return -1;
    }
    return 0;
}

static int check_len(const struct buf *b, const char *what, Py_ssize_t items)
{
    if (b->view.len / b->view.itemsize != items) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items, got %zd", what, items,
                     b->view.len / b->view.itemsize);
        return -1;
    }
    return 0;
}

/* a * b * ... with overflow checked; -1 on overflow or a negative factor */
static Py_ssize_t product(int count, const Py_ssize_t *f)
{
    Py_ssize_t r = 1;
    for (int i = 0; i < count; ++i) {
        if (f[i] < 0 || __builtin_mul_overflow(r, f[i], &r))
            return -1;
    }
    return r;
}

/* Every index map entry is -1 or in [0, limit), and there are at least `need` of them. */
static int check_map(const struct buf *b, const char *what, Py_ssize_t need, Py_ssize_t limit)
{
    Py_ssize_t len = b->view.len / 8;
    if (len < need) {
        PyErr_Format(PyExc_ValueError, "%s: expected at least %zd entries, got %zd", what, need,
                     len);
        return -1;
    }
    const int64_t *m = (const int64_t *)b->view.buf;
    /* Entry m is good when v = m + 1 (wrapping) and limit - v both have the top bit clear
     * (0 <= v <= limit): an add, a subtract and an OR an entry, which the compiler vectorises
     * on SSE2 (its unsigned 64-bit compare is AVX-512's only; the scalar loop cost a 16000-
     * sample signal's call 9 us). The first bad entry is looked for only when there is one. */
    uint64_t tops = 0;
    for (Py_ssize_t i = 0; i < need; ++i) {
        const uint64_t v = (uint64_t)m[i] + 1;
        tops |= v | ((uint64_t)limit - v);
    }
    for (Py_ssize_t i = 0; tops >> 63 && i < need; ++i) {
        if (m[i] < -1 || m[i] >= limit) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] = %lld is outside [-1, %zd)", what, i,
                         (long long)m[i], limit);
            return -1;
        }
    }
    return 0;
}

/* ---- the conv entry points ---------------------------------------------------------------- */

/* Parsed and checked arguments of one conv call, and the buffers they hold. */
struct call {
    struct buf x, w, bias, y, rows, cols, planes;
    struct cl_conv a;
    Py_ssize_t q0, q1, itemsize;
    Py_ssize_t chunk, workers;  /* the region: items q0 .. q1 in chunks on workers threads */
    Py_ssize_t planar;          /* x and y channels-first, q0 .. q1 whole images (planar.h) */
    Py_ssize_t items;           /* the kernel's items an image, set by an entry that takes
                                   planar calls (0: it takes none) */
    int placed;                 /* y written through a placement (place()) */
    Py_ssize_t grain;           /* > 0: the region claims guided shares (region.h) */
    void *zero;
};

static void call_release(struct call *c)
{
    release(&c->x);
    release(&c->w);
    release(&c->bias);
    release(&c->y);
    release(&c->rows);
    release(&c->cols);
    release(&c->planes);
    free(c->zero);
    c->zero = NULL;
    free((void *)c->a.run_start);
    c->a.run_start = NULL;
}

/* fn over the parsed call's items as a region (region.h), the GIL released: a channels-first
 * call by chunks of images through NHWC scratch (planar.h). The kernel's result. */
static int region(cl_direct_fn fn, struct call *c)
{
    int rc;
    if (c->planar) {
        struct cl_planar pl = {.a = c->a, .fn = fn, .items = c->items, .f64 = c->itemsize == 8};
        Py_BEGIN_ALLOW_THREADS
        rc = cl_region(cl_planar_chunk, &pl.a, c->q0, c->q1, c->chunk, (int)c->workers, 0);
        Py_END_ALLOW_THREADS
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = cl_region(fn, &c->a, c->q0, c->q1, c->chunk, (int)c->workers, c->grain);
        Py_END_ALLOW_THREADS
    }
    return rc;
}

/* Run fn on the parsed call with the GIL released, release the buffers, and return None (or
 * NULL with MemoryError when the kernel could not allocate its scratch). */
static PyObject *run(cl_direct_fn fn, struct call *c)
{
    if (c->planar && !c->items) {
        PyErr_SetString(PyExc_ValueError, "planar: this kernel reads channels-last input only");
        call_release(c);
        return NULL;
    }
    const int rc = region(fn, c);
    call_release(c);
    if (rc < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* Where output pixel (n, oh, ow) starts (struct cl_conv's y0, ysn, ysh, ysw): by `placement`,
 * a tuple (y0, ysn, ysh, ysw) of element offsets, or None: y is (N, Ho, Wo, O) itself. A
 * placement's pixels must not overlap (ysw >= O, ysh at least a row's span, ysn an image's)
 * and its last pixel must end inside y. */
static int place(struct call *c, PyObject *placement, Py_ssize_t ny)
{
    struct cl_conv *a = &c->a;
    if (placement == Py_None) {
        a->y0 = 0;
        a->ysw = a->o;
        a->ysh = a->wo * a->o;
        a->ysn = a->ho * a->ysh;
        return check_len(&c->y, "y", ny);
    }
    if (!PyTuple_Check(placement) || PyTuple_GET_SIZE(placement) != 4) {
        PyErr_SetString(PyExc_TypeError, "placement: expected a tuple (y0, ysn, ysh, ysw)");
        return -1;
    }
    Py_ssize_t s[4];
    for (int i = 0; i < 4; ++i) {
        s[i] = PyNumber_AsSsize_t(PyTuple_GET_ITEM(placement, i), PyExc_OverflowError);
        if (s[i] == -1 && PyErr_Occurred())
            return -1;
    }
    /* a pixel's extent, then a row's, then an image's: each step past the one before (an
     * axis of one entry takes no step, whatever its stride) */
    Py_ssize_t extent = a->o, span, end;
    const Py_ssize_t count[3] = {a->wo, a->ho, a->n}, step[3] = {s[3], s[2], s[1]};
    const Py_ssize_t len = c->y.view.len / c->y.view.itemsize;
    int bad = s[0] < 0;
    for (int i = 0; i < 3 && !bad; ++i)
        bad = count[i] > 1 && (step[i] < extent
                               || __builtin_mul_overflow(count[i] - 1, step[i], &span)
                               || __builtin_add_overflow(extent, span, &extent));
    bad = bad || (a->n > 0 && (__builtin_add_overflow(s[0], extent, &end) || end > len));
    if (bad) {
        PyErr_Format(PyExc_ValueError,
                     "placement (%zd, %zd, %zd, %zd): expected y0 >= 0, pixels, rows and images "
                     "apart (ysw >= O = %zd, ysh >= a row's span, ysn >= an image's) and inside "
                     "y (%zd items)", s[0], s[1], s[2], s[3], a->o, len);
        return -1;
    }
    c->placed = 1;
    a->y0 = s[0];
    a->ysn = s[1];
    a->ysh = s[2];
    a->ysw = s[3];
    return 0;
}

/* (out - 1) * stride + (k - 1) * dilation + 1: the padded entries an axis's windows read (its
 * index map's length), or -1 when that overflows (all sizes are at least 1). */
static Py_ssize_t index_span(Py_ssize_t out, Py_ssize_t stride, Py_ssize_t k,
                             Py_ssize_t dilation)
{
    Py_ssize_t a, b, sum;
    if (__builtin_mul_overflow(out - 1, stride, &a) || __builtin_mul_overflow(k - 1, dilation, &b)
        || __builtin_add_overflow(a, b, &sum) || sum == PY_SSIZE_T_MAX)
        return -1;
    return sum + 1;
}

/* Parse (x, w, bias, y, row_map, col_map, geometry, extra, q0, q1[, plane_map, chunk,
 * workers]): the items q0 .. q1 run as a region of chunks on `workers` threads (region.h;
 * default one thread, and a weight gradient takes only that); geometry is
 * (n, h, w, c, ho, wo, o, kh, kw, sh, sw, dh, dw, groups[, np, kd]): n output images read
 * from np input planes through plane_map (n * kd entries, see direct.h) when given, else
 * np = n and kd = 1. Checks what is common to every family; the caller checks w and bias,
 * and a family without depth taps (`volumes` 0) refuses kd > 1. */
static int parse(PyObject *args, struct call *c, Py_ssize_t *extra, int gradient, int volumes,
                 int placeable)
{
    PyObject *x, *w, *bias, *y, *rows, *cols, *geometry, *planes = Py_None, *placement = Py_None;
    Py_ssize_t g[16];
    memset(c, 0, sizeof *c);
    c->workers = 1;
    if (!PyArg_ParseTuple(args, "OOOOOOO!nnn|OnnnO", &x, &w, &bias, &y, &rows, &cols,
                          &PyTuple_Type, &geometry, extra, &c->q0, &c->q1, &planes, &c->chunk,
                          &c->workers, &c->planar, &placement))
        return -1;
    if (placement != Py_None && (!placeable || c->planar)) {
        PyErr_SetString(PyExc_ValueError,
                        "placement: only direct's channels-last forward tiles take one");
        return -1;
    }
    if (c->planar && (gradient || planes != Py_None)) {
        PyErr_SetString(PyExc_ValueError, "planar: a forward conv of images only");
        return -1;
    }
    if (c->chunk < 0 || c->workers < 1 || c->workers > CL_MAX_HELPERS + 1) {
        PyErr_Format(PyExc_ValueError, "chunk = %zd, workers = %zd: expected chunk >= 0 and "
                     "1 <= workers <= %d", c->chunk, c->workers, CL_MAX_HELPERS + 1);
        return -1;
    }
    if (gradient && c->workers > 1) {  /* its chunks would add into the same grad_w */
        PyErr_SetString(PyExc_ValueError, "workers: a weight gradient runs on one thread");
        return -1;
    }
    const Py_ssize_t ng = PyTuple_GET_SIZE(geometry);
    if (ng != 14 && ng != 16) {
        PyErr_Format(PyExc_ValueError, "geometry: expected 14 or 16 sizes, got %zd", ng);
        return -1;
    }
    for (Py_ssize_t i = 0; i < ng; ++i) {
        g[i] = PyNumber_AsSsize_t(PyTuple_GET_ITEM(geometry, i), PyExc_OverflowError);
        if (g[i] == -1 && PyErr_Occurred())
            return -1;
    }
    if (ng == 14) {
        g[14] = g[0];
        g[15] = 1;
    }
    if ((planes == Py_None) != (ng == 14)) {
        PyErr_SetString(PyExc_ValueError, "plane_map: given exactly when geometry has np, kd");
        return -1;
    }
    if (!volumes && (g[15] != 1 || planes != Py_None)) {
        /* such a kernel reads image n of x as plane n: a plane map would be ignored, and
         * np planes fewer than n images read past x */
        PyErr_SetString(PyExc_ValueError, "kd, plane_map: this kernel takes no depth taps "
                        "(kd must be 1, plane_map None)");
        return -1;
    }
    if (get(x, &c->x, "x", 0, "float", 0) < 0)
        return -1;
    c->itemsize = c->x.view.itemsize;
    /* a weight gradient reads y (grad_y) and adds into w (grad_w) */
    if (get(w, &c->w, gradient ? "grad_w" : "w", gradient, "float", c->itemsize) < 0
        || (bias != Py_None && get(bias, &c->bias, "bias", 0, "float", c->itemsize) < 0)
        || get(y, &c->y, gradient ? "grad_y" : "y", !gradient, "float", c->itemsize) < 0
        || get(rows, &c->rows, "row_map", 0, "int64", 8) < 0
        || get(cols, &c->cols, "col_map", 0, "int64", 8) < 0)
        return -1;
    if (planes != Py_None && get(planes, &c->planes, "plane_map", 0, "int64", 8) < 0)
        return -1;
    for (int i = 0; i < 16; ++i) {
        if (g[i] < (i == 0 || i == 14 ? 0 : 1)) {
            PyErr_Format(PyExc_ValueError, "geometry[%d] = %zd: sizes must be positive", i, g[i]);
            return -1;
        }
    }
    struct cl_conv *a = &c->a;
    a->n = g[0]; a->ih = g[1]; a->iw = g[2]; a->c = g[3];
    a->ho = g[4]; a->wo = g[5]; a->o = g[6];
    a->kh = g[7]; a->kw = g[8]; a->sh = g[9]; a->sw = g[10]; a->dh = g[11]; a->dw = g[12];
    a->groups = g[13];
    a->np = g[14]; a->kd = g[15];
    if (a->c % a->groups || a->o % a->groups) {
        PyErr_SetString(PyExc_ValueError, "groups must divide the input and output channels");
        return -1;
    }
    a->cg = a->c / a->groups;
    a->og = a->o / a->groups;
    Py_ssize_t xs[4] = {a->np, a->ih, a->iw, a->c}, ys[4] = {a->n, a->ho, a->wo, a->o};
    Py_ssize_t pixels[3] = {a->n, a->ho, a->wo};
    Py_ssize_t nx = product(4, xs), ny = product(4, ys), nq = product(3, pixels);
    if (nx < 0 || ny < 0 || nq < 0 || check_len(&c->x, "x", nx) < 0 || place(c, placement, ny) < 0)
        return nx < 0 || ny < 0 || nq < 0
            ? (PyErr_SetString(PyExc_ValueError, "sizes overflow"), -1) : -1;
    const Py_ssize_t nitems = c->planar ? a->n : nq;  /* planar: whole images */
    if (c->q0 < 0 || c->q0 > c->q1 || c->q1 > nitems) {
        PyErr_Format(PyExc_ValueError, "%s [%zd, %zd) are outside [0, %zd)",
                     c->planar ? "images" : "pixels", c->q0, c->q1, nitems);
        return -1;
    }
    Py_ssize_t rows_need = index_span(a->ho, a->sh, a->kh, a->dh);
    Py_ssize_t cols_need = index_span(a->wo, a->sw, a->kw, a->dw);
    if (rows_need < 0 || cols_need < 0) {
        PyErr_SetString(PyExc_ValueError, "sizes overflow");
        return -1;
    }
    Py_ssize_t md[2] = {a->n, a->kd};
    if (check_map(&c->rows, "row_map", rows_need, a->ih) < 0
        || check_map(&c->cols, "col_map", cols_need, a->iw) < 0
        || (c->planes.held && check_map(&c->planes, "plane_map", product(2, md), a->np) < 0))
        return -1;
    /* what a padded tap reads: a whole merged kernel row (kw * C values), or a vector past
     * any channel offset */
    c->zero = calloc((size_t)((a->kw + 1) * a->c + 64), (size_t)c->itemsize);
    if (!c->zero) {
        PyErr_NoMemory();
        return -1;
    }
    a->x = c->x.view.buf;
    a->w = c->w.view.buf;  /* written by a weight gradient (acquired writable then) */
    a->bias = c->bias.held ? c->bias.view.buf : NULL;
    a->y = c->y.view.buf;
    a->zero = c->zero;
    a->row_map = (const int64_t *)c->rows.view.buf;
    a->col_map = (const int64_t *)c->cols.view.buf;
    a->plane_map = c->planes.held ? (const int64_t *)c->planes.view.buf : NULL;
    return 0;
}

/* table[nv], the kernel of nv output-channel vectors a tile, or NULL with the error set when
 * this instruction set has none. */
static cl_direct_fn tile_kernel(cl_direct_fn *table, Py_ssize_t nv)
{
    if (nv < 1 || nv > CL_MAX_NV || !table[nv]) {
        PyErr_Format(PyExc_ValueError, "nv = %zd: no such tile on %s", nv, cl_kernels.name);
        return NULL;
    }
    return table[nv];
}

PyDoc_STRVAR(direct_doc,
"direct(x, w, bias, y, row_map, col_map, geometry, nv, q0, q1[, plane_map, chunk, workers,\n"
"planar, placement])\n\n"
"Direct convolution of output pixels q0 <= q < q1 (flat over N, Ho, Wo) into y; with\n"
"chunk and workers, the pixels in chunks on that many threads of the native pool.\n"
"w packed (G, nob, kd, kh, kw, C/G, nv*lanes), bias (G, nob, nv*lanes) or None; nv = 0:\n"
"dot tiles (few outputs), w (G, nob, taps, dot_outputs, cnp) (dot_kernel.h), bias (O,).\n"
"With plane_map, geometry ends with (np, kd): x holds np planes, image m sums kd depth taps.\n"
"With placement (y0, ysn, ysh, ysw), tiles only (nv > 0), pixel (n, oh, ow) goes to\n"
"y[y0 + n*ysn + oh*ysh + ow*ysw:][:O], y any buffer holding every such pixel.");

static PyObject *py_direct(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t nv;
    if (parse(args, &c, &nv, 0, 1, 1) < 0)
        goto fail;
    const int f64 = c.itemsize == 8;
    struct cl_conv *a = &c.a;
    if (nv == 0 && c.placed) {
        PyErr_SetString(PyExc_ValueError, "placement: dot tiles (nv = 0) take none");
        goto fail;
    }
    if (nv == 0) {  /* dot tiles: w (G, nob, taps, CL_DOT_O, cnp), bias (O,) */
        const Py_ssize_t lanes = f64 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32;
        const int merged = cl_dot_merged_rows(a, lanes);
        const Py_ssize_t cn = merged ? a->kw * a->cg : a->cg;
        Py_ssize_t ws[5] = {a->groups, (a->og + CL_DOT_O - 1) / CL_DOT_O,
                            a->kd * a->kh * (merged ? 1 : a->kw), CL_DOT_O,
                            (cn + lanes - 1) / lanes * lanes};
        Py_ssize_t nw = product(5, ws);
        if (nw < 0 || check_len(&c.w, "w", nw) < 0
            || (c.bias.held && check_len(&c.bias, "bias", a->o) < 0))
            goto fail;
        c.items = a->ho * a->wo;
        return run(f64 ? cl_kernels.dot_f64 : cl_kernels.dot_f32, &c);
    }
    cl_direct_fn fn = tile_kernel(f64 ? cl_kernels.direct_f64 : cl_kernels.direct_f32, nv);
    if (!fn)
        goto fail;
    a->nv = nv;
    const Py_ssize_t ob = nv * (f64 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32);
    const Py_ssize_t nob = (a->og + ob - 1) / ob;
    Py_ssize_t ws[7] = {a->groups, nob, a->kd, a->kh, a->kw, a->cg, ob};
    Py_ssize_t bs[3] = {a->groups, nob, ob};
    Py_ssize_t nw = product(7, ws);
    if (nw < 0 || check_len(&c.w, "w", nw) < 0
        || (c.bias.held && check_len(&c.bias, "bias", product(3, bs)) < 0))
        goto fail;
    c.items = a->ho * a->wo;
    /* found once here, not by every chunk (O(Wo + W): a 16000-sample signal's 5% a chunk) */
    if (cl_merged_rows(a) && !(a->run_start = cl_run_starts(a))) {
        PyErr_NoMemory();
        goto fail;
    }
    /* its tiles' work does not grow with a call's range (only its buffers, per CL_CHUNK) */
    c.grain = CL_CHUNK;
    return run(fn, &c);
fail:
    call_release(&c);
    return NULL;
}

/* What both Winograd entry points check of a parsed call: a 3x3 stride-1 conv without
 * dilation or groups, a tile width the table has, tiles q0 .. q1 of the (N, ceil(Ho/4),
 * ceil(Wo/4)) grid. The kernel, or NULL with the error set. */
static cl_direct_fn winograd_kernel(const struct call *c, Py_ssize_t nv, cl_direct_fn *table)
{
    const struct cl_conv *a = &c->a;
    if (a->kh != 3 || a->kw != 3 || a->sh != 1 || a->sw != 1 || a->dh != 1 || a->dw != 1
        || a->groups != 1) {
        PyErr_SetString(PyExc_ValueError,
                        "winograd: needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
        return NULL;
    }
    if (!tile_kernel(table, nv))
        return NULL;
    Py_ssize_t ts[3] = {a->n, (a->ho + 3) / 4, (a->wo + 3) / 4};
    const Py_ssize_t tiles = product(3, ts);
    if (c->q1 > tiles) {
        PyErr_Format(PyExc_ValueError, "tiles [%zd, %zd) are outside [0, %zd)", c->q0, c->q1,
                     tiles);
        return NULL;
    }
    return table[nv];
}

PyDoc_STRVAR(winograd_doc,
"winograd(x, u, bias, y, row_map, col_map, geometry, nv, q0, q1[, plane_map, chunk,\n"
"workers]) -> bool\n\n"
"Winograd F(4x4, 3x3) of tiles q0 <= q < q1 (flat over N, ceil(Ho/4), ceil(Wo/4)) into y:\n"
"a 3x3 kernel, stride 1, no dilation or groups. u is the kernel's transform packed\n"
"(nob, 36, kd*C, nv*lanes), bias (nob*nv*lanes,) or None, zero-filled past O. False when\n"
"an output is not finite (y then holds no result: compute it the direct way). With\n"
"plane_map, a volume's depth taps, as direct's.");

/* winograd (gradient 0) and winograd_wgrad (1): the forward returns whether every output is
 * finite; the weight gradient adds into m and returns None. */
static PyObject *winograd_entry(PyObject *args, int gradient)
{
    struct call c;
    Py_ssize_t nv;
    if (parse(args, &c, &nv, gradient, 1, 0) < 0)
        goto fail;
    const int f64 = c.itemsize == 8;
    struct cl_conv *a = &c.a;
    cl_direct_fn *table = gradient ? (f64 ? cl_kernels.winograd_wgrad_f64
                                          : cl_kernels.winograd_wgrad_f32)
                                   : (f64 ? cl_kernels.winograd_f64 : cl_kernels.winograd_f32);
    cl_direct_fn fn = winograd_kernel(&c, nv, table);
    if (!fn)
        goto fail;
    const Py_ssize_t ob = nv * (f64 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32);
    const Py_ssize_t nob = (a->o + ob - 1) / ob;
    /* forward: u (nob, 36, kd, C, ob); gradient: m (36, kd, C, nob * ob) */
    Py_ssize_t ws[5] = {gradient ? 1 : nob, 36, a->kd, a->c, gradient ? nob * ob : ob};
    const Py_ssize_t nw = product(5, ws);
    if (nw < 0 || check_len(&c.w, gradient ? "m" : "u", nw) < 0)
        goto fail;
    if (gradient && c.bias.held) {
        PyErr_SetString(PyExc_ValueError, "bias: a weight gradient takes None");
        goto fail;
    }
    if (!gradient && c.bias.held && check_len(&c.bias, "bias", nob * ob) < 0)
        goto fail;
    c.items = (a->ho + 3) / 4 * ((a->wo + 3) / 4);  /* tiles an image */
    const int rc = region(fn, &c);
    call_release(&c);
    if (gradient || rc < 0)
        return kernel_result(rc);
    return PyBool_FromLong(rc == 0);
fail:
    call_release(&c);
    return NULL;
}

static PyObject *py_winograd(PyObject *self, PyObject *args)
{
    (void)self;
    return winograd_entry(args, 0);
}

PyDoc_STRVAR(winograd_wgrad_doc,
"winograd_wgrad(x, m, None, grad_y, row_map, col_map, geometry, nv, q0, q1[, plane_map])\n\n"
"Winograd F(3x3, 4x4) weight gradient of a 3x3 stride-1 conv: the products of grad_y's\n"
"tiles q0 <= q < q1 (flat over N, ceil(Ho/4), ceil(Wo/4)) added into m (36, kd*C, kp), kp\n"
"= O rounded up to nv*lanes (winograd_kernel.h gives the map from m to grad_w).");

static PyObject *py_winograd_wgrad(PyObject *self, PyObject *args)
{
    (void)self;
    return winograd_entry(args, 1);
}

PyDoc_STRVAR(winograd_pack_doc,
"winograd_pack(w, u, ob, o0, o1)\n\n"
"Winograd's kernel transform G w G^T of HWIO w (3, 3, C, O), in float64, into u packed\n"
"(nob, 36, C, ob) of w's dtype (zero-filled by the caller past O): output channels o0..o1.\n"
"A volume's w (kd, 3, 3, C, O) packs as (3, 3, kd*C, O): u (nob, 36, kd*C, ob).");

PyDoc_STRVAR(winograd_unpack_doc,
"winograd_unpack(grad_w, m, kp, o0, o1)\n\n"
"The Winograd weight gradient's last map G^T m G, in float64: m (36, kd*C, kp), the sums\n"
"winograd_wgrad added, into grad_w (3, 3, C, O) or (kd, 3, 3, C, O): output channels o0..o1.");

/* winograd_pack (unpack 0) and winograd_unpack (1): a map between a (kd,) 3, 3, C, O kernel
 * and its 36 transformed positions, over output channels o0 .. o1. */
static PyObject *kernel_transform(PyObject *args, int unpack)
{
    PyObject *ko, *to;
    Py_ssize_t block, o0, o1;
    struct buf bufs[2];
    memset(bufs, 0, sizeof bufs);
    const char *kname = unpack ? "grad_w" : "w", *tname = unpack ? "m" : "u";
    if (!PyArg_ParseTuple(args, "OOnnn", &ko, &to, &block, &o0, &o1))
        return NULL;
    if (get(ko, &bufs[0], kname, unpack, "float", 0) < 0)
        return NULL;
    const Py_ssize_t item = bufs[0].view.itemsize;
    if (get(to, &bufs[1], tname, !unpack, "float", item) < 0)
        goto fail;
    const int nd = bufs[0].view.ndim;
    const Py_ssize_t *ks = bufs[0].view.shape;
    if ((nd != 4 && nd != 5) || ks[nd - 4] != 3 || ks[nd - 3] != 3) {
        PyErr_Format(PyExc_ValueError, "%s: expected a (3, 3, C, O) or (kd, 3, 3, C, O) kernel",
                     kname);
        goto fail;
    }
    const Py_ssize_t kd = nd == 5 ? ks[0] : 1, c = ks[nd - 2], o = ks[nd - 1];
    /* pack: u (nob, 36, kd, C, ob), block = ob; unpack: m (36, kd, C, kp), block = kp >= O */
    if (block < (unpack ? o : 1) || o0 < 0 || o0 > o1 || o1 > o) {
        PyErr_Format(PyExc_ValueError, "%s = %zd, o0 = %zd, o1 = %zd: need %s and "
                     "0 <= o0 <= o1 <= %zd", unpack ? "kp" : "ob", block, o0, o1,
                     unpack ? "kp >= O" : "ob >= 1", o);
        goto fail;
    }
    Py_ssize_t ts[5] = {unpack ? 1 : (o + block - 1) / block, 36, kd, c, block};
    const Py_ssize_t nt = product(5, ts);
    if (nt < 0 || check_len(&bufs[1], tname, nt) < 0)
        goto fail;
    void *k = bufs[0].view.buf, *t = bufs[1].view.buf;
    if (unpack) {
        cl_wino_unpack_fn fn = item == 8 ? cl_kernels.winograd_unpack_f64
                                         : cl_kernels.winograd_unpack_f32;
        Py_BEGIN_ALLOW_THREADS
        fn(t, k, kd, c, o, block, o0, o1);
        Py_END_ALLOW_THREADS
    } else {
        cl_wino_pack_fn fn = item == 8 ? cl_kernels.winograd_pack_f64
                                       : cl_kernels.winograd_pack_f32;
        Py_BEGIN_ALLOW_THREADS
        fn(k, t, kd, c, o, block, o0, o1);
        Py_END_ALLOW_THREADS
    }
    release_all(bufs, 2);
    Py_RETURN_NONE;
fail:
    release_all(bufs, 2);
    return NULL;
}

static PyObject *py_winograd_pack(PyObject *self, PyObject *args)
{
    (void)self;
    return kernel_transform(args, 0);
}

static PyObject *py_winograd_unpack(PyObject *self, PyObject *args)
{
    (void)self;
    return kernel_transform(args, 1);
}

PyDoc_STRVAR(winograd_1d_doc,
"winograd_1d(x, u, bias, y, row_map, col_map, geometry, nv, q0, q1[, None, chunk, workers])\n"
"-> bool\n\n"
"Winograd F(4, 3) along rows (winograd_1d_kernel.h) of blocks q0 <= q < q1, flat over (N,\n"
"Ho, blocks), into y: a kernel of one row (kh = 1), any width and stride, no dilation or\n"
"groups. A row's block holds 4*G outputs, G = ceil(ceil(kw / sw) / 3). nv (1 or 2) vectors\n"
"of output channels a register tile; u is the kernel's transform packed (nob, G*sw*C, 6,\n"
"nv*lanes) (winograd_1d_pack), bias (nob*nv*lanes,) or None, zero-filled past O. False when\n"
"an output is not finite (y then holds no result: compute it the direct way).");

static PyObject *py_winograd_1d(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t nv;
    if (parse(args, &c, &nv, 0, 0, 0) < 0)
        goto fail;
    const int f64 = c.itemsize == 8;
    struct cl_conv *a = &c.a;
    cl_direct_fn *table = f64 ? cl_kernels.winograd_1d_f64 : cl_kernels.winograd_1d_f32;
    if (a->kh != 1 || a->dw != 1 || a->groups != 1 || c.planar) {
        PyErr_SetString(PyExc_ValueError, "winograd_1d: needs a kernel of one row (kh = 1), "
                        "no dilation or groups, channels-last input");
        goto fail;
    }
    cl_direct_fn fn = tile_kernel(table, nv);
    if (!fn)
        goto fail;
    a->nv = nv;
    const Py_ssize_t g = cl_wino1d_groups(a->kw, a->sw), blocks = cl_wino1d_blocks(a->wo, g);
    const Py_ssize_t ob = nv * (f64 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32);
    const Py_ssize_t nob = (a->o + ob - 1) / ob;
    Py_ssize_t ws[5] = {nob, g * a->sw, a->c, 6, ob}, items[3] = {a->n, a->ho, blocks};
    const Py_ssize_t nw = product(5, ws), nq = product(3, items);
    if (nw < 0 || nq < 0) {
        PyErr_SetString(PyExc_ValueError, "sizes overflow");
        goto fail;
    }
    if (check_len(&c.w, "u", nw) < 0
        || (c.bias.held && check_len(&c.bias, "bias", nob * ob) < 0))
        goto fail;
    if (c.q1 > nq) {
        PyErr_Format(PyExc_ValueError, "blocks [%zd, %zd) are outside [0, %zd)", c.q0, c.q1, nq);
        goto fail;
    }
    const int rc = region(fn, &c);
    call_release(&c);
    if (rc < 0)
        return PyErr_NoMemory();
    return PyBool_FromLong(rc == 0);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(winograd_1d_pack_doc,
"winograd_1d_pack(w, u, sw, ob, o0, o1)\n\n"
"winograd_1d's kernel transform of a one-row kernel w (kw, C, O) at stride sw, in float64,\n"
"into u packed (nob, G*sw*C, 6, ob) of w's dtype (zero-filled by the caller past O): output\n"
"channels o0..o1.");

static PyObject *py_winograd_1d_pack(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ko, *uo;
    Py_ssize_t sw, ob, o0, o1;
    struct buf bufs[2];
    memset(bufs, 0, sizeof bufs);
    if (!PyArg_ParseTuple(args, "OOnnnn", &ko, &uo, &sw, &ob, &o0, &o1))
        return NULL;
    if (get(ko, &bufs[0], "w", 0, "float", 0) < 0)
        return NULL;
    const Py_ssize_t item = bufs[0].view.itemsize;
    if (get(uo, &bufs[1], "u", 1, "float", item) < 0)
        goto fail;
    const Py_ssize_t *ks = bufs[0].view.shape;
    if (bufs[0].view.ndim != 3) {
        PyErr_SetString(PyExc_ValueError, "w: expected a one-row kernel (kw, C, O)");
        goto fail;
    }
    const Py_ssize_t kw = ks[0], c = ks[1], o = ks[2];
    if (kw < 1 || c < 1 || sw < 1 || ob < 1 || o0 < 0 || o0 > o1 || o1 > o) {
        PyErr_Format(PyExc_ValueError, "kw = %zd, C = %zd, sw = %zd, ob = %zd, o0 = %zd, o1 = "
                     "%zd: need kw, C, sw, ob >= 1 and 0 <= o0 <= o1 <= %zd", kw, c, sw, ob,
                     o0, o1, o);
        goto fail;
    }
    Py_ssize_t us[5] = {(o + ob - 1) / ob, cl_wino1d_groups(kw, sw) * sw, c, 6, ob};
    const Py_ssize_t nu = product(5, us);
    if (nu < 0 || check_len(&bufs[1], "u", nu) < 0)
        goto fail;
    cl_wino1d_pack_fn fn = item == 8 ? cl_kernels.winograd_1d_pack_f64
                                     : cl_kernels.winograd_1d_pack_f32;
    void *k = bufs[0].view.buf, *u = bufs[1].view.buf;
    Py_BEGIN_ALLOW_THREADS
    fn(k, u, kw, sw, c, o, ob, o0, o1);
    Py_END_ALLOW_THREADS
    release_all(bufs, 2);
    Py_RETURN_NONE;
fail:
    release_all(bufs, 2);
    return NULL;
}

PyDoc_STRVAR(depthwise_doc,
"depthwise(x, w, bias, y, row_map, col_map, geometry, cp, q0, q1[, None, chunk, workers])\n\n"
"Depthwise convolution (groups == C == O) of output pixels q0 <= q < q1 into y.\n"
"w packed (kh, kw, cp), bias (cp,) or None, zero-filled past C; cp a multiple of 64.");

static PyObject *py_depthwise(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t cp;
    if (parse(args, &c, &cp, 0, 1, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    if (a->groups != a->c || a->o != a->c || cp < a->c || cp % 64) {
        PyErr_Format(PyExc_ValueError, "depthwise needs groups == C == O and cp a multiple of 64 "
                     "of at least C; got groups %zd, C %zd, O %zd, cp %zd", a->groups, a->c,
                     a->o, cp);
        goto fail;
    }
    a->cp = cp;
    if (check_len(&c.w, "w", a->kd * a->kh * a->kw * cp) < 0
        || (c.bias.held && check_len(&c.bias, "bias", cp) < 0))
        goto fail;
    cl_direct_fn fn = c.itemsize == 8 ? cl_kernels.depthwise_f64 : cl_kernels.depthwise_f32;
    c.items = a->ho * a->wo;
    return run(fn, &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(wgrad_doc,
"wgrad(x, grad_w, None, grad_y, row_map, col_map, geometry, nv, q0, q1)\n\n"
"Adds the weight gradient of output pixels q0 <= q < q1 into grad_w, packed\n"
"(G, nob, kh*kw, C/G, nv*lanes) as direct's kernel.");

static PyObject *py_wgrad(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t nv;
    if (parse(args, &c, &nv, 1, 1, 0) < 0)
        goto fail;
    const int f64 = c.itemsize == 8;
    cl_direct_fn fn = tile_kernel(f64 ? cl_kernels.wgrad_f64 : cl_kernels.wgrad_f32, nv);
    if (!fn)
        goto fail;
    struct cl_conv *a = &c.a;
    const Py_ssize_t ob = nv * (f64 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32);
    Py_ssize_t ws[5] = {a->groups, (a->og + ob - 1) / ob, a->kd * a->kh * a->kw, a->cg, ob};
    if (c.bias.held) {
        PyErr_SetString(PyExc_ValueError, "wgrad: takes no bias");
        goto fail;
    }
    if (check_len(&c.w, "grad_w", product(5, ws)) < 0)
        goto fail;
    return run(fn, &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(dw_wgrad_doc,
"dw_wgrad(x, grad_w, grad_b, grad_y, row_map, col_map, geometry, cp, q0, q1)\n\n"
"Adds the depthwise weight gradient of output pixels q0 <= q < q1 into grad_w (kh*kw, cp),\n"
"and unless grad_b is None, their grad_y summed over pixels into grad_b (cp,), writable: the\n"
"bias gradient in the same pass over grad_y.");

static PyObject *py_dw_wgrad(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t cp;
    if (parse(args, &c, &cp, 1, 1, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    if (a->groups != a->c || a->o != a->c || cp < a->c || cp % 64) {
        PyErr_SetString(PyExc_ValueError, "dw_wgrad: needs groups == C == O, cp a multiple of 64 "
                        "of at least C");
        goto fail;
    }
    a->cp = cp;
    Py_ssize_t ws[2] = {a->kd * a->kh * a->kw, cp};
    if (check_len(&c.w, "grad_w", product(2, ws)) < 0
        || (c.bias.held && check_len(&c.bias, "grad_b", cp) < 0))
        goto fail;
    if (c.bias.held && c.bias.view.readonly) {
        PyErr_SetString(PyExc_ValueError, "grad_b: the array is read-only");
        goto fail;
    }
    cl_direct_fn fn = c.itemsize == 8 ? cl_kernels.dw_wgrad_f64 : cl_kernels.dw_wgrad_f32;
    return run(fn, &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(stencil_doc,
"stencil(x, w, bias, y, row_map, col_map, geometry, bank, q0, q1[, plane_map, chunk,\n"
"workers])\n\n"
"Few channels (groups 1, 1 <= O <= 8, horizontal stride 1), pixels in SIMD lanes: output\n"
"pixels q0 <= q < q1, whole rows (multiples of Wo). w (kh, kw, kd*C, O), bias (O,) or None;\n"
"with bank = K > 0, w is (K, kh, kw, kd*C, O) and bias (K, O), image n filtered by kernel\n"
"n % K. With plane_map, geometry ends with (np, kd): x holds np planes, image m sums kd\n"
"depth taps.");

PyDoc_STRVAR(stencil_planar_doc,
"stencil_planar(x, w, bias, y, row_map, col_map, geometry, bank, q0, q1[, None, chunk,\n"
"workers])\n\n"
"stencil's computation with y (N, O, Ho, Wo): an NCHW result written as it lies.");

static PyObject *stencil_entry(PyObject *args, int planar)
{
    struct call c;
    Py_ssize_t bank;
    if (parse(args, &c, &bank, 0, 1, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    if (a->groups != 1 || a->o < 1 || a->o > 8 || a->sw != 1 || c.q0 % a->wo
        || c.q1 % a->wo) {
        PyErr_SetString(PyExc_ValueError, "stencil: needs groups 1, 1 <= O <= 8, horizontal "
                        "stride 1 and whole output rows");
        goto fail;
    }
    if (bank < 0) {
        PyErr_SetString(PyExc_ValueError, "stencil: the kernel bank's size must be >= 0");
        goto fail;
    }
    if (planar && a->plane_map) {
        PyErr_SetString(PyExc_ValueError, "stencil_planar: takes no volume (plane_map)");
        goto fail;
    }
    a->cp = bank;  /* 0: one kernel for every image */
    a->planar = planar;
    Py_ssize_t ws[6] = {bank > 0 ? bank : 1, a->kh, a->kw, a->kd, a->c, a->o};
    const Py_ssize_t nw = product(6, ws), nb = product(2, (Py_ssize_t[2]){ws[0], a->o});
    if (nw < 0 || nb < 0 || check_len(&c.w, "w", nw) < 0
        || (c.bias.held && check_len(&c.bias, "bias", nb) < 0))
        goto fail;
    cl_direct_fn fn = c.itemsize == 8 ? cl_kernels.stencil_f64 : cl_kernels.stencil_f32;
    return run(fn, &c);
fail:
    call_release(&c);
    return NULL;
}

static PyObject *py_stencil(PyObject *self, PyObject *args)
{
    (void)self;
    return stencil_entry(args, 0);
}

static PyObject *py_stencil_planar(PyObject *self, PyObject *args)
{
    (void)self;
    return stencil_entry(args, 1);
}

PyDoc_STRVAR(plane_stencil_doc,
"plane_stencil(x, w, bias, y, row_map, col_map, geometry, bank, q0, q1[, None, chunk,\n"
"workers])\n\n"
"A one-channel conv (C == O == 1, groups 1, stride 1) whose output has its input's shape,\n"
"by zero padding: output pixels q0 <= q < q1 of the flat (N, H, W) grid, any range, each\n"
"plane read as one long row. w (kh, kw), bias (1,) or None; with bank = K > 0, w is\n"
"(K, kh, kw) and bias (K,), image n filtered by kernel n % K.");

/* Whether index map b (of `need` entries, for an axis of `size`) is zero padding: -1 for
 * `pad` entries, then 0 .. size - 1, then -1. */
static int zero_padded(const struct buf *b, Py_ssize_t need, Py_ssize_t size)
{
    const int64_t *m = (const int64_t *)b->view.buf;
    Py_ssize_t pad = 0;
    while (pad < need && m[pad] < 0)
        ++pad;
    for (Py_ssize_t i = pad; i < need; ++i)
        if (m[i] != (i - pad < size ? i - pad : -1))
            return 0;
    return pad + size <= need;
}

static PyObject *py_plane_stencil(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t bank;
    if (parse(args, &c, &bank, 0, 0, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    /* the kernel's spans (and a row plus its span, which the lanes' columns count in T's
     * integer size) without overflow */
    Py_ssize_t rs[2] = {a->kh - 1, a->dh}, cs[2] = {a->kw - 1, a->dw};
    const Py_ssize_t rspan = product(2, rs), cspan = product(2, cs);
    const Py_ssize_t lane_max = c.itemsize == 4 ? INT32_MAX / 2 : PY_SSIZE_T_MAX / 2;
    if (rspan < 0 || cspan < 0 || a->iw > lane_max - cspan) {
        PyErr_SetString(PyExc_ValueError, "plane_stencil: the kernel's span or the rows are "
                        "too large");
        goto fail;
    }
    if (a->c != 1 || a->o != 1 || a->groups != 1 || a->sh != 1 || a->sw != 1
        || a->ho != a->ih || a->wo != a->iw
        || !zero_padded(&c.rows, a->ho + rspan, a->ih)
        || !zero_padded(&c.cols, a->wo + cspan, a->iw)) {
        PyErr_SetString(PyExc_ValueError, "plane_stencil: needs C == O == 1, groups 1, stride "
                        "1, zero padding and an output of the input's shape");
        goto fail;
    }
    if (bank < 0) {
        PyErr_SetString(PyExc_ValueError, "plane_stencil: the kernel bank's size must be >= 0");
        goto fail;
    }
    a->cp = bank;  /* 0: one kernel for every image */
    Py_ssize_t ws[3] = {bank > 0 ? bank : 1, a->kh, a->kw};
    const Py_ssize_t nw = product(3, ws);
    if (nw < 0 || check_len(&c.w, "w", nw) < 0
        || (c.bias.held && check_len(&c.bias, "bias", ws[0]) < 0))
        goto fail;
    return run(c.itemsize == 8 ? cl_kernels.plane_stencil_f64 : cl_kernels.plane_stencil_f32,
               &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(stencil_wgrad_doc,
"stencil_wgrad(x, grad_w, None, grad_y, row_map, col_map, geometry, 0, q0, q1)\n\n"
"Adds the weight gradient (kh, kw, O) of output rows q0 / Wo .. q1 / Wo of a one-channel\n"
"conv (C == 1, groups 1, horizontal stride 1) into grad_w.");

static PyObject *py_stencil_wgrad(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t unused;
    if (parse(args, &c, &unused, 1, 0, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    if (a->c != 1 || a->sw != 1 || c.q0 % a->wo || c.q1 % a->wo || c.bias.held) {
        PyErr_SetString(PyExc_ValueError, "stencil_wgrad: needs C == 1, horizontal stride 1, "
                        "whole output rows and no bias");
        goto fail;
    }
    if (check_len(&c.w, "grad_w", a->kh * a->kw * a->o) < 0)
        goto fail;
    return run(c.itemsize == 8 ? cl_kernels.stencil_wgrad_f64 : cl_kernels.stencil_wgrad_f32,
               &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(pointwise_cf_doc,
"pointwise_cf(x, w, bias, y, row_map, col_map, geometry, unused, q0, q1[, plane_map, chunk, workers])\n\n"
"A 1x1 conv in channels-first layout, pixels q0 <= q < q1 of the flat (N, S) grid: x (N, C, S),\n"
"y (N, O, S), w the (O, C) kernel as given, bias (O,) or None; geometry that of an image of\n"
"1 x S pixels, 1x1, stride 1, groups 1 (the maps the identity).");

static PyObject *py_pointwise_cf(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t unused;
    if (parse(args, &c, &unused, 0, 0, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    if (c.planar || a->ih != 1 || a->ho != 1 || a->wo != a->iw || a->kh != 1 || a->kw != 1
        || a->sh != 1 || a->sw != 1 || a->groups != 1) {
        PyErr_SetString(PyExc_ValueError, "pointwise_cf: needs one row of pixels (ih = ho = 1, "
                        "wo = iw), a 1x1 kernel, stride 1 and groups 1");
        goto fail;
    }
    const int64_t *cols = (const int64_t *)c.cols.view.buf;
    for (Py_ssize_t i = 0; i < a->iw; ++i)
        if (cols[i] != i) {
            PyErr_SetString(PyExc_ValueError, "col_map: pointwise_cf reads no padding (the "
                            "identity map)");
            goto fail;
        }
    Py_ssize_t ws[2] = {a->o, a->c};
    if (check_len(&c.w, "w", product(2, ws)) < 0
        || (c.bias.held && check_len(&c.bias, "bias", a->o) < 0))
        goto fail;
    return run(c.itemsize == 8 ? cl_kernels.pointwise_cf_f64 : cl_kernels.pointwise_cf_f32, &c);
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(small_doc,
"small(x, w, bias, y, row_map, col_map, geometry, 0, 0, n_pixels)\n\n"
"A small conv by plain loops, every pixel, on the calling thread (the GIL held: it takes\n"
"microseconds). w HWIO (kh, kw, C/G, O), bias (O,) or None.");

static PyObject *py_small(PyObject *self, PyObject *args)
{
    (void)self;
    struct call c;
    Py_ssize_t unused;
    if (parse(args, &c, &unused, 0, 0, 0) < 0)
        goto fail;
    struct cl_conv *a = &c.a;
    Py_ssize_t ws[4] = {a->kh, a->kw, a->cg, a->o};
    if (c.q0 != 0 || c.q1 != a->n * a->ho * a->wo) {
        PyErr_SetString(PyExc_ValueError, "small: computes every pixel: q0 = 0, q1 = all");
        goto fail;
    }
    if (check_len(&c.w, "w", product(4, ws)) < 0
        || (c.bias.held && check_len(&c.bias, "bias", a->o) < 0))
        goto fail;
    if (c.itemsize == 8)
        cl_small_f64(a);
    else
        cl_small_f32(a);
    call_release(&c);
    Py_RETURN_NONE;
fail:
    call_release(&c);
    return NULL;
}

PyDoc_STRVAR(transpose_doc,
"transpose(src, dst, batch, rows, cols, b0, b1, j0, j1)\n\n"
"dst[b] (cols, rows) = src[b] (rows, cols) transposed for matrices b0 <= b < b1 of the batch,\n"
"destination rows j0 <= j < j1 of each.");

static PyObject *py_transpose(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *so, *dobj;
    Py_ssize_t batch, rows, cols, b0, b1, j0, j1;
    struct buf src = {0}, dst = {0};
    if (!PyArg_ParseTuple(args, "OOnnnnnnn", &so, &dobj, &batch, &rows, &cols, &b0, &b1, &j0,
                          &j1))
        return NULL;
    if (get(so, &src, "src", 0, "float", 0) < 0
        || get(dobj, &dst, "dst", 1, "float", src.view.itemsize) < 0)
        goto fail;
    Py_ssize_t dims[3] = {batch, rows, cols}, n = product(3, dims);
    if (n < 0 || check_len(&src, "src", n) < 0 || check_len(&dst, "dst", n) < 0)
        goto fail;
    if (b0 < 0 || b0 > b1 || b1 > batch || j0 < 0 || j0 > j1 || j1 > cols) {
        PyErr_Format(PyExc_ValueError, "matrices [%zd, %zd) rows [%zd, %zd) are outside "
                     "[0, %zd) x [0, %zd)", b0, b1, j0, j1, batch, cols);
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t b = b0; b < b1; ++b) {
        const Py_ssize_t off = b * rows * cols;
        if (src.view.itemsize == 8)
            cl_kernels.transpose_f64((const double *)src.view.buf + off,
                                     (double *)dst.view.buf + off, rows, cols, j0, j1);
        else
            cl_kernels.transpose_f32((const float *)src.view.buf + off,
                                     (float *)dst.view.buf + off, rows, cols, j0, j1);
    }
    Py_END_ALLOW_THREADS
    release(&src);
    release(&dst);
    Py_RETURN_NONE;
fail:
    release(&src);
    release(&dst);
    return NULL;
}

PyDoc_STRVAR(pool_doc,
"pool(mode, x, g, out, index, div, taps_d, taps_h, taps_w, dims, q0, q1, assign=0)\n\n"
"Pooling of output pixels q0 <= q < q1 of the flat (B, OD, OH, OW) grid (pool.h).\n"
"mode 0 max, 1 average, 2 max backward, 3 average backward; dims (B, C, D, H, W, OD, OH,\n"
"OW, kd, kh, kw); x (B, D, H, W, C) or None (average backward); g grad_y (backward) or\n"
"None; out y or grad_x (added to); index int64 like y or None (max); div (OD, OH, OW) or\n"
"None (average; average backward: g divided by it, or as given); taps_a (out_a, k_a) int64 maps, -1 or [0, in_a). assign (backward): the\n"
"windows partition the input, so out is written rather than added to.");

static PyObject *py_pool(PyObject *self, PyObject *args)
{
    (void)self;
    int mode, assign = 0;
    PyObject *xo, *go, *oo, *io, *dio, *to[3];
    Py_ssize_t d[11], q0, q1;
    struct buf bufs[8];
    memset(bufs, 0, sizeof bufs);
    struct buf *x = &bufs[0], *g = &bufs[1], *out = &bufs[2], *index = &bufs[3],
               *div = &bufs[4], *maps = &bufs[5];
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "iOOOOOOOO(nnnnnnnnnnn)nn|p", &mode, &xo, &go, &oo, &io, &dio,
                          &to[0], &to[1], &to[2], &d[0], &d[1], &d[2], &d[3], &d[4], &d[5],
                          &d[6], &d[7], &d[8], &d[9], &d[10], &q0, &q1, &assign))
        return NULL;
    if (mode < CL_POOL_MAX || mode > CL_POOL_AVG_BACK) {
        PyErr_Format(PyExc_ValueError, "mode: expected 0 to 3, got %d", mode);
        return NULL;
    }
    const int backward = mode >= CL_POOL_MAX_BACK;
    Py_ssize_t in_dims[5] = {d[0], d[2], d[3], d[4], d[1]};
    Py_ssize_t out_dims[5] = {d[0], d[5], d[6], d[7], d[1]};
    Py_ssize_t n_in = product(5, in_dims), n_out = product(5, out_dims);
    Py_ssize_t taps = product(3, d + 8), grid = product(3, d + 5);
    Py_ssize_t pixels = product(4, (Py_ssize_t[4]){d[0], d[5], d[6], d[7]});
    if (n_in < 0 || n_out < 0 || taps < 1 || grid < 0 || pixels < 0 || taps >= (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "dims: negative, overflowing, or a window of no "
                        "taps or of 2**24 or more");
        return NULL;
    }
    if (q0 < 0 || q0 > q1 || q1 > pixels) {
        PyErr_Format(PyExc_ValueError, "pixels [%zd, %zd) are outside [0, %zd)", q0, q1,
                     pixels);
        return NULL;
    }
    if (get(oo, out, "out", 1, "float", 0) < 0
        || check_len(out, "out", backward ? n_in : n_out) < 0)
        goto fail;
    Py_ssize_t item = out->view.itemsize;
    if (mode != CL_POOL_AVG_BACK
        && (get(xo, x, "x", 0, "float", item) < 0 || check_len(x, "x", n_in) < 0))
        goto fail;
    if (backward && (get(go, g, "g", 0, "float", item) < 0 || check_len(g, "g", n_out) < 0))
        goto fail;
    if (mode == CL_POOL_MAX && io != Py_None
        && (get(io, index, "index", 1, "int", 0) < 0 || check_len(index, "index", n_out) < 0))
        goto fail;
    if ((mode == CL_POOL_AVG || (mode == CL_POOL_AVG_BACK && dio != Py_None))
        && (get(dio, div, "div", 0, "float", item) < 0 || check_len(div, "div", grid) < 0))
        goto fail;
    static const char *const names[3] = {"taps_d", "taps_h", "taps_w"};
    for (int a = 0; a < 3; ++a)
        if (get(to[a], &maps[a], names[a], 0, "int", 0) < 0
            || check_map(&maps[a], names[a], d[5 + a] * d[8 + a], d[2 + a]) < 0)
            goto fail;
    /* assign only where the maps really partition the input: tap j of output o reads o*k + j
     * on every axis, and the outputs cover it (else grad_x would keep unwritten values) */
    for (int ax = 0; assign && ax < 3; ++ax) {
        const int64_t *m = (const int64_t *)maps[ax].view.buf;
        int ok = d[5 + ax] * d[8 + ax] == d[2 + ax];
        for (Py_ssize_t i = 0; ok && i < d[5 + ax] * d[8 + ax]; ++i)
            ok = m[i] == i;
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "assign: the windows of %s do not partition the "
                         "input", names[ax]);
            goto fail;
        }
    }
    struct cl_pool p = {
        .mode = (enum cl_pool_mode)mode, .x = x->held ? x->view.buf : NULL,
        .g = g->held ? g->view.buf : NULL, .out = out->view.buf,
        .index = index->held ? (int64_t *)index->view.buf : NULL,
        .div = div->held ? div->view.buf : NULL,
        .b = d[0], .c = d[1], .assign = assign,
    };
    for (int a = 0; a < 3; ++a) {
        p.taps[a] = (const int64_t *)maps[a].view.buf;
        p.in[a] = d[2 + a];
        p.out_[a] = d[5 + a];
        p.k[a] = d[8 + a];
    }
    cl_pool_fn fn = item == 8 ? cl_kernels.pool_f64 : cl_kernels.pool_f32;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(&p, q0, q1);
    Py_END_ALLOW_THREADS
    result = kernel_result(rc);
fail:
    release_all(bufs, 8);
    return result;
}

PyDoc_STRVAR(activation_doc,
"activation(op, a, b, out, i0, i1)\n\n"
"Element-wise, on elements i0 <= i < i1 of flat C-contiguous arrays of one float dtype:\n"
"op 0: out = sigmoid(a) (b None); 1: out = a * (1 - b) * b (a = grad, b = sigmoid's output);\n"
"2: out = b > 0 ? a : 0 (a = grad, b = relu's output); 3: out = max(a, 0) (b None; NaN\n"
"stays NaN, -0 gives +0, as np.maximum).");

static PyObject *py_activation(PyObject *self, PyObject *args)
{
    (void)self;
    int op;
    PyObject *ao, *bo, *oo;
    Py_ssize_t i0, i1;
    struct buf a = {0}, b = {0}, out = {0};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "iOOOnn", &op, &ao, &bo, &oo, &i0, &i1))
        return NULL;
    if (op < 0 || op > 3) {
        PyErr_Format(PyExc_ValueError, "op: expected 0, 1, 2 or 3, got %d", op);
        return NULL;
    }
    if (get(oo, &out, "out", 1, "float", 0) < 0
        || get(ao, &a, "a", 0, "float", out.view.itemsize) < 0
        || ((op == 1 || op == 2) && get(bo, &b, "b", 0, "float", out.view.itemsize) < 0))
        goto fail;
    Py_ssize_t n = out.view.len / out.view.itemsize;
    if (check_len(&a, "a", n) < 0 || ((op == 1 || op == 2) && check_len(&b, "b", n) < 0))
        goto fail;
    if (i0 < 0 || i0 > i1 || i1 > n) {
        PyErr_Format(PyExc_ValueError, "elements [%zd, %zd) are outside [0, %zd)", i0, i1, n);
        goto fail;
    }
    cl_activation_fn fn = out.view.itemsize == 8 ? cl_kernels.activation_f64
                                                 : cl_kernels.activation_f32;
    Py_BEGIN_ALLOW_THREADS
    fn(op, a.view.buf, b.held ? b.view.buf : NULL, out.view.buf, i0, i1);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
fail:
    release(&a);
    release(&b);
    release(&out);
    return result;
}

PyDoc_STRVAR(channel_sums_doc,
"channel_sums(mode, a, b, s, out, channels, r0, r1)\n\n"
"Per-channel sums over rows r0 <= r < r1 of (rows, C) C-contiguous arrays of one float\n"
"dtype, added into out (float64): mode 0 sum of a (out C); 1 sum of (a - s)^2 (out C);\n"
"2 sum of b and of b * (a - s) (out 2C). b is None unless mode 2; s (C,) unless mode 0.");

static PyObject *py_channel_sums(PyObject *self, PyObject *args)
{
    (void)self;
    int mode;
    PyObject *ao, *bo, *so, *oo;
    Py_ssize_t C, r0, r1;
    struct buf bufs[4];
    memset(bufs, 0, sizeof bufs);
    struct buf *a = &bufs[0], *b = &bufs[1], *s = &bufs[2], *out = &bufs[3];
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "iOOOOnnn", &mode, &ao, &bo, &so, &oo, &C, &r0, &r1))
        return NULL;
    if (mode < 0 || mode > 2 || C < 1) {
        PyErr_Format(PyExc_ValueError, "mode %d, channels %zd: expected mode 0-2 and at least "
                     "one channel", mode, C);
        return NULL;
    }
    if (get(ao, a, "a", 0, "float", 0) < 0
        || (mode == 2 && get(bo, b, "b", 0, "float", a->view.itemsize) < 0)
        || (mode > 0 && get(so, s, "s", 0, "float", a->view.itemsize) < 0)
        || get(oo, out, "out", 1, "float", 8) < 0)
        goto fail;
    Py_ssize_t n = a->view.len / a->view.itemsize;
    if (n % C || (b->held && check_len(b, "b", n) < 0) || (s->held && check_len(s, "s", C) < 0)
        || check_len(out, "out", mode == 2 ? 2 * C : C) < 0) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "a: %zd values are not rows of %zd channels", n, C);
        goto fail;
    }
    if (r0 < 0 || r0 > r1 || r1 > n / C) {
        PyErr_Format(PyExc_ValueError, "rows [%zd, %zd) are outside [0, %zd)", r0, r1, n / C);
        goto fail;
    }
    cl_channel_sums_fn fn = a->view.itemsize == 8 ? cl_kernels.channel_sums_f64
                                                 : cl_kernels.channel_sums_f32;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(mode, a->view.buf, b->held ? b->view.buf : NULL, s->held ? s->view.buf : NULL,
            (double *)out->view.buf, C, r0, r1);
    Py_END_ALLOW_THREADS
    result = kernel_result(rc);
fail:
    release_all(bufs, 4);
    return result;
}

PyDoc_STRVAR(channel_affine_doc,
"channel_affine(g, x, s, p, q, t, out, channels, r0, r1)\n\n"
"out[r, c] = g[r, c] * p[c] + (x[r, c] - s[c]) * q[c] + t[c] for rows r0 <= r < r1 of\n"
"(rows, C) C-contiguous arrays of one float dtype; g (and p) None: the first term is left out.");

static PyObject *py_channel_affine(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o[7];
    Py_ssize_t C, r0, r1;
    struct buf bufs[7];
    memset(bufs, 0, sizeof bufs);
    PyObject *result = NULL;
    static const char *const names[7] = {"g", "x", "s", "p", "q", "t", "out"};
    if (!PyArg_ParseTuple(args, "OOOOOOOnnn", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &C, &r0, &r1))
        return NULL;
    if (C < 1) {
        PyErr_SetString(PyExc_ValueError, "channels: expected at least one");
        return NULL;
    }
    const int with_g = o[0] != Py_None;
    if (get(o[1], &bufs[1], "x", 0, "float", 0) < 0)
        goto fail;
    Py_ssize_t item = bufs[1].view.itemsize, n = bufs[1].view.len / item;
    for (int i = 0; i < 7; ++i) {
        if (i == 1 || (!with_g && (i == 0 || i == 3)))
            continue;
        if (get(o[i], &bufs[i], names[i], i == 6, "float", item) < 0
            || check_len(&bufs[i], names[i], i == 0 || i == 6 ? n : C) < 0)
            goto fail;
    }
    if (n % C || r0 < 0 || r0 > r1 || r1 > n / C) {
        PyErr_Format(PyExc_ValueError, "rows [%zd, %zd) of %zd channels are outside the %zd "
                     "values of x", r0, r1, C, n);
        goto fail;
    }
    cl_channel_affine_fn fn = item == 8 ? cl_kernels.channel_affine_f64
                                        : cl_kernels.channel_affine_f32;
    Py_BEGIN_ALLOW_THREADS
    fn(with_g ? bufs[0].view.buf : NULL, bufs[1].view.buf, bufs[2].view.buf,
       with_g ? bufs[3].view.buf : NULL, bufs[4].view.buf, bufs[5].view.buf, bufs[6].view.buf,
       C, r0, r1);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
fail:
    release_all(bufs, 7);
    return result;
}

/* ---- the dispatch, as Python sees it --------------------------------------------------- */

static const char *const ISA_NAMES[CL_ISA_COUNT] = {"baseline", "avx2", "avx512"};

static PyObject *py_isa(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(cl_kernels.name);
}

static PyObject *py_supported(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *out = PyList_New(0);
    for (int i = 0; out && i < CL_ISA_COUNT; ++i) {
        if (cl_isa_best((enum cl_isa)i) != (enum cl_isa)i)
            continue;
        PyObject *s = PyUnicode_FromString(ISA_NAMES[i]);
        if (!s || PyList_Append(out, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(s);
    }
    return out;
}

static PyObject *py_use(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    for (int i = 0; i < CL_ISA_COUNT; ++i) {
        if (strcmp(name, ISA_NAMES[i]) == 0) {
            if (cl_isa_best((enum cl_isa)i) != (enum cl_isa)i) {
                PyErr_Format(PyExc_ValueError, "isa: this CPU cannot run %s", name);
                return NULL;
            }
            cl_isa_use((enum cl_isa)i);
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(PyExc_ValueError, "isa: expected 'baseline', 'avx2' or 'avx512', got '%s'", name);
    return NULL;
}

static PyObject *py_tiles(PyObject *self, PyObject *arg)
{
    (void)self;
    long itemsize = PyLong_AsLong(arg);
    if (itemsize == -1 && PyErr_Occurred())
        return NULL;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "itemsize: expected 4 or 8");
        return NULL;
    }
    const int *pix = itemsize == 8 ? cl_kernels.pix_f64 : cl_kernels.pix_f32;
    PyObject *d = PyDict_New();
    for (int nv = 1; d && nv <= CL_MAX_NV; ++nv) {
        if (!pix[nv])
            continue;
        PyObject *k = PyLong_FromLong(nv), *v = PyLong_FromLong(pix[nv]);
        if (!k || !v || PyDict_SetItem(d, k, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *py_dot_tile(PyObject *self, PyObject *arg)
{
    (void)self;
    long itemsize = PyLong_AsLong(arg);
    if (itemsize == -1 && PyErr_Occurred())
        return NULL;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "itemsize: expected 4 or 8");
        return NULL;
    }
    return Py_BuildValue("(ii)", itemsize == 8 ? cl_kernels.dot_pix_f64 : cl_kernels.dot_pix_f32,
                         CL_DOT_O);
}

static PyObject *py_lanes(PyObject *self, PyObject *arg)
{
    (void)self;
    long itemsize = PyLong_AsLong(arg);
    if (itemsize == -1 && PyErr_Occurred())
        return NULL;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "itemsize: expected 4 or 8");
        return NULL;
    }
    return PyLong_FromLong(itemsize == 8 ? cl_kernels.lanes_f64 : cl_kernels.lanes_f32);
}

static PyMethodDef methods[] = {
    {"direct", py_direct, METH_VARARGS, direct_doc},
    {"winograd", py_winograd, METH_VARARGS, winograd_doc},
    {"winograd_pack", py_winograd_pack, METH_VARARGS, winograd_pack_doc},
    {"winograd_wgrad", py_winograd_wgrad, METH_VARARGS, winograd_wgrad_doc},
    {"winograd_unpack", py_winograd_unpack, METH_VARARGS, winograd_unpack_doc},
    {"winograd_1d", py_winograd_1d, METH_VARARGS, winograd_1d_doc},
    {"winograd_1d_pack", py_winograd_1d_pack, METH_VARARGS, winograd_1d_pack_doc},
    {"depthwise", py_depthwise, METH_VARARGS, depthwise_doc},
    {"transpose", py_transpose, METH_VARARGS, transpose_doc},
    {"pointwise_cf", py_pointwise_cf, METH_VARARGS, pointwise_cf_doc},
    {"small", py_small, METH_VARARGS, small_doc},
    {"stencil", py_stencil, METH_VARARGS, stencil_doc},
    {"stencil_planar", py_stencil_planar, METH_VARARGS, stencil_planar_doc},
    {"plane_stencil", py_plane_stencil, METH_VARARGS, plane_stencil_doc},
    {"stencil_wgrad", py_stencil_wgrad, METH_VARARGS, stencil_wgrad_doc},
    {"wgrad", py_wgrad, METH_VARARGS, wgrad_doc},
    {"dw_wgrad", py_dw_wgrad, METH_VARARGS, dw_wgrad_doc},
    {"pool", py_pool, METH_VARARGS, pool_doc},
    {"activation", py_activation, METH_VARARGS, activation_doc},
    {"channel_sums", py_channel_sums, METH_VARARGS, channel_sums_doc},
    {"channel_affine", py_channel_affine, METH_VARARGS, channel_affine_doc},
    {"isa", py_isa, METH_NOARGS, "The instruction set whose kernels run."},
    {"supported", py_supported, METH_NOARGS, "The instruction sets this CPU runs, in order."},
    {"use", py_use, METH_O, "use(name): run the kernels of this instruction set."},
    {"tiles", py_tiles, METH_O, "tiles(itemsize): {nv: output pixels per direct tile}."},
    {"lanes", py_lanes, METH_O, "lanes(itemsize): SIMD lanes of one vector."},
    {"dot_tile", py_dot_tile, METH_O, "dot_tile(itemsize): (pixels, outputs) of a dot tile."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_core",
    "convolab's compiled kernels (see convolab._native for the Python side).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    cl_isa_use(cl_isa_best(CL_ISA_COUNT));
    if (PyType_Ready(&cl_bell_type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddObjectRef(m, "Bell", (PyObject *)&cl_bell_type) < 0)
        Py_CLEAR(m);
    return m;
}
