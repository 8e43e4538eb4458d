"""Commit a model's data splits: copy split manifests into models/splits/<model>/ with file hashes.

Usage (from the repository root, after the recipe's ``graffiti data split`` steps):

    python scripts/write_model_splits.py graffiti-effnetlite0 runs/default-data/street-graffiti.csv \
        runs/default-data/facades-spb.csv

Each output CSV is an ordinary manifest (``--data models/splits/<model>/<source>.csv --split val``
evaluates the held-out split; paths are relative to the CSV, so the repository must sit beside
``shared/`` as the recipe assumes) plus a ``sha256`` column (first 16 hex digits) that
``graffiti eval``'s leak guard compares with the evaluated files.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from detector.data.manifest import read_manifest
    from detector.leakguard import write_split_with_hashes

    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: write_model_splits.py MODEL_NAME SPLIT.csv [SPLIT.csv ...]", file=sys.stderr)
        return 2
    name, manifests = argv[0], [Path(p) for p in argv[1:]]
    out = Path("models") / "splits" / name
    for manifest in manifests:
        samples = read_manifest(manifest)
        path = write_split_with_hashes(samples, out / manifest.name)
        counts: dict[str, int] = {}
        for s in samples:
            counts[s.split or "-"] = counts.get(s.split or "-", 0) + 1
        print(f"wrote {path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
