"""``convolab.theory``: section 6.1, from fully-connected layers to convolutions.

The implementation lives in :mod:`convolab.apps.theory`; this module is its public name.
"""

from convolab.apps.theory import (
    ParameterCounts,
    dense_matrix,
    dense_weights,
    fully_connected,
    locally_connected,
    parameter_counts,
    parameter_table,
    reindex,
    translation_equivariance_error,
)

__all__ = [
    "ParameterCounts",
    "dense_matrix",
    "dense_weights",
    "fully_connected",
    "locally_connected",
    "parameter_counts",
    "parameter_table",
    "reindex",
    "translation_equivariance_error",
]
