"""The adversarial tier: what the worst client can do to everyone else (issue 10).

Every test here is marked `adversarial`, so `pytest -m adversarial` runs the tier alone and
`-m 'not adversarial'` skips it. The numbers these tests use (connections, failures, keys) are
sized by settings and fixtures to keep CI fast, never by skipping a scenario.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/adversarial/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.adversarial)
