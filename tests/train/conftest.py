"""Training tests keep the frozen-feature cache inside pytest's temporary folder, never in ~/.cache."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _feature_cache_in_tmp(tmp_path_factory):
    old = os.environ.get("GRAFFITI_FEATURE_CACHE")
    os.environ["GRAFFITI_FEATURE_CACHE"] = str(tmp_path_factory.mktemp("feature-cache"))
    yield
    if old is None:
        os.environ.pop("GRAFFITI_FEATURE_CACHE", None)
    else:
        os.environ["GRAFFITI_FEATURE_CACHE"] = old
