"""Shared test fixtures and the tiers (markers are declared in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ../shared/datasets, or skip the test with a reason when absent."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"needs ../shared/datasets/{name}, which is not present on this machine")
    return path
