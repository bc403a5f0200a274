/* The Bell type (bell.c): a one-waiter-at-a-time hand-over for the Python crew's threads. */
#ifndef CONVOLAB_BELL_H
#define CONVOLAB_BELL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyTypeObject cl_bell_type;

#endif
