/* Bell: what the Python crew's threads wait on (convolab/algorithms/crew.py). ring() lets one
 * wait() through, as releasing a held threading.Lock lets one acquire() through; wait()
 * watches for a ring before it sleeps (spin.h), with the GIL released. A lock's waiter sleeps
 * at once, and waking it cost ~50 us: a region of the crew took 47-59 us with empty jobs, and
 * a LeNet training step opens ~40 of them. Asleep, a waiter looks at Python's signals every
 * CL_BELL_POLL_NS, as an interrupted lock wait does at once: Ctrl-C reaches a main thread
 * that waits for its helpers (the CLI's chunked jobs stop, saying what they wrote). */
#include "bell.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "spin.h"

#define CL_BELL_POLL_NS 20000000  /* 20 ms */

typedef struct {
    PyObject_HEAD
    atomic_ulong rings;  /* rung and not yet waited through (changed under mu) */
    pthread_mutex_t mu;
    pthread_cond_t rung; /* on CLOCK_MONOTONIC */
} Bell;

static PyObject *bell_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Bell() takes no arguments");
        return NULL;
    }
    Bell *self = (Bell *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    atomic_init(&self->rings, 0);
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->rung, &attr);
    pthread_condattr_destroy(&attr);
    return (PyObject *)self;
}

static void bell_dealloc(Bell *self)
{
    pthread_cond_destroy(&self->rung);
    pthread_mutex_destroy(&self->mu);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *bell_ring(Bell *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->mu);
    atomic_fetch_add(&self->rings, 1);
    pthread_cond_signal(&self->rung);
    pthread_mutex_unlock(&self->mu);
    Py_RETURN_NONE;
}

/* Take a ring if one comes within CL_BELL_POLL_NS (watched for first when `watch`); whether
 * one was taken. Called without the GIL. */
static int take(Bell *self, int watch)
{
    if (watch)
        cl_watch(&self->rings, 0);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += CL_BELL_POLL_NS;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&self->mu);
    while (atomic_load(&self->rings) == 0
           && pthread_cond_timedwait(&self->rung, &self->mu, &until) != ETIMEDOUT) {
    }
    const int taken = atomic_load(&self->rings) > 0;
    if (taken)
        atomic_fetch_sub(&self->rings, 1);
    pthread_mutex_unlock(&self->mu);
    return taken;
}

static PyObject *bell_wait(Bell *self, PyObject *unused)
{
    (void)unused;
    for (int watch = 1;; watch = 0) {
        int taken;
        Py_BEGIN_ALLOW_THREADS
        taken = take(self, watch);
        Py_END_ALLOW_THREADS
        if (taken)
            Py_RETURN_NONE;
        if (PyErr_CheckSignals() < 0)  /* a handler raised (KeyboardInterrupt): no ring taken */
            return NULL;
    }
}

static PyMethodDef bell_methods[] = {
    {"ring", (PyCFunction)bell_ring, METH_NOARGS, "Let one wait() through."},
    {"wait", (PyCFunction)bell_wait, METH_NOARGS,
     "Return after a ring() no other wait() took: watched for a while, then slept on."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cl_bell_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "convolab._native._core.Bell",
    .tp_basicsize = sizeof(Bell),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Bell(): ring() lets one wait() through; a waiter watches before it sleeps.",
    .tp_new = bell_new,
    .tp_dealloc = (destructor)bell_dealloc,
    .tp_methods = bell_methods,
};
