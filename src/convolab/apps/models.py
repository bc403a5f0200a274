"""Small models from the book, as :class:`convolab.layers.Sequential` stacks.

:func:`lenet5` is LeNet-5 as D2L 6.6 builds it (LeCun et al., 1998, with the book's
simplifications: no sparse connection table between the conv layers, no Gaussian output
layer): two convolutional blocks, each a 5x5 conv, a sigmoid and a 2x2 average pooling, then
three dense layers 120-84-10.
"""

from __future__ import annotations

import numbers

import numpy as np

from convolab.layers.sequential import Sequential


def lenet5(*, modern: bool = False, num_classes: int = 10,
           input_shape: tuple[int, int, int] = (28, 28, 1), seed: int | None = None,
           dtype: str = "float32") -> Sequential:
    """The book's LeNet (D2L 6.6), built for ``input_shape`` images, channels last.

    ========================================= =========================== =========
    layer                                     output for a 28x28x1 input  params
    ========================================= =========================== =========
    Conv2D(6, 5, padding="same"), sigmoid     28x28x6                     156
    AveragePooling2D(2)                       14x14x6                     0
    Conv2D(16, 5), sigmoid                    10x10x16                    2,416
    AveragePooling2D(2)                       5x5x16                      0
    Flatten                                   400                         0
    Dense(120), sigmoid                       120                         48,120
    Dense(84), sigmoid                        84                          10,164
    Dense(10)                                 10 (logits)                 850
    ========================================= =========================== =========

    ``modern=True`` swaps the sigmoids for ReLUs and the average pooling for max pooling, the
    two changes that later networks made (6.6's exercises): it trains much faster. The output
    is logits, for :func:`convolab.layers.cross_entropy`. Weights are Keras's defaults (Glorot
    uniform kernels, zero biases), drawn from ``seed`` (None: fresh randomness); the layers
    compute in ``dtype``.

    >>> model = lenet5(seed=0)
    >>> model.count_params(), model.output_shape
    (61706, (None, 10))
    """
    from convolab.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or \
            num_classes < 1:
        raise ValueError(f"num_classes: expected an int >= 1, received num_classes="
                         f"{num_classes!r}")
    act = "relu" if modern else "sigmoid"
    pool = MaxPooling2D if modern else AveragePooling2D
    # one seed per layer with weights, all from ``seed``
    seeds = iter([None] * 5 if seed is None else
                 [int(s) for s in np.random.SeedSequence(seed).generate_state(5)])
    model = Sequential([
        Conv2D(6, 5, padding="same", activation=act, seed=next(seeds), dtype=dtype),
        pool(2),
        Conv2D(16, 5, activation=act, seed=next(seeds), dtype=dtype),
        pool(2),
        Flatten(),
        Dense(120, activation=act, seed=next(seeds), dtype=dtype),
        Dense(84, activation=act, seed=next(seeds), dtype=dtype),
        Dense(num_classes, seed=next(seeds), dtype=dtype),
    ], name="lenet5-modern" if modern else "lenet5")
    model.build((None, *input_shape))
    return model
