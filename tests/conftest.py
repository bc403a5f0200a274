"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import os

import pytest
from hypothesis import HealthCheck, settings

# CI draws the same examples on every run (seeded from a hash of each test): a submission lands or
# not on its code, never on the luck of the draw. "dev" keeps exploring new examples each run.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True, database=None,
)
settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# the sanitized build runs ~4x slower: its pass (.ci/run) draws fewer examples of each test,
# enough to reach every size, stride and padding form of the kernels' memory accesses
settings.register_profile(
    "sanitize", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True, database=None,
)
settings.load_profile(os.environ.get("CONVOLAB_TEST_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def numpy_engine(monkeypatch):
    """The compiled core turned off for one test: what "auto" chooses among the NumPy
    algorithms (as with CONVOLAB_NATIVE=0, or where the extension could not be built)."""
    from convolab import _native

    monkeypatch.setattr(_native, "core", None)


def pytest_collection_modifyitems(config, items):
    """Without the compiled core (CONVOLAB_NATIVE=0, or not built) its algorithms run nothing:
    their parametrized cases are skipped, saying why; every NumPy algorithm still runs."""
    from convolab import _native
    from convolab.algorithms import COMPILED

    if _native.available():
        return
    skip = pytest.mark.skip(reason=f"the compiled core is not available: {_native.reason}")
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("name") in COMPILED:
            item.add_marker(skip)
