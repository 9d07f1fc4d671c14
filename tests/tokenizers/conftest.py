"""Fixtures for the tokenizer tests; tiny configs live in tokenizer_helpers.py."""

import pytest


@pytest.fixture(params=["continuous", "discrete"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param
