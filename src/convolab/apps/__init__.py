"""Applications on top of the ops: 6.1 theory, template matching, named kernels, built-in
images, figures and the chapter tour.

Matplotlib is only imported by ``plots``, ``animation`` and ``tour`` (lazily, on first use), so
importing ``convolab`` or these light modules never pulls it in.
"""
