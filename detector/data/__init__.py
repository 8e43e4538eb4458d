"""Datasets: readers for several formats, one in-memory sample type, splitting, inspection, synthesis."""
