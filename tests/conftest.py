"""Suite-wide pytest options: ``--run-slow`` runs the tests marked ``@pytest.mark.slow``.

Slow tests are long statistical studies (minutes); without the option they are skipped.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the long statistical studies marked @pytest.mark.slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow statistical study: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
