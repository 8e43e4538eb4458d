"""The leak guard: ``graffiti eval`` says when the evaluated images are (by content) in the model's
training data, or come from one of its training sources without recorded hashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detector import leakguard
from tests.conftest import REPO, shared_dataset

pytestmark = pytest.mark.train


def test_hashes_pack_and_unpack_compactly(tmp_path):
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(bytes([i]) * 100)
    hashes = [leakguard.short_hash(f) for f in files]
    packed = leakguard.pack(h for h in hashes if h)
    assert len(packed) == 3 * leakguard.HASH_CHARS
    assert leakguard.unpack(packed) == set(hashes)
    assert leakguard.short_hash(tmp_path / "missing") is None


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("torch")
    from detector.train.onnx_export import export_model
    from tests.train.tiny_run import shared_tiny_run

    run = shared_tiny_run(tmp_path_factory)
    out = run.root / "models" / "leak.onnx"
    if not out.is_file():
        export_model(run.checkpoint, out, name="leak", progress=False)
    return run, out


def test_export_records_the_training_files_hashes(exported):
    from detector.data.manifest import read_manifest
    from detector.onnxmodel import read_meta

    run, onnx_path = exported
    training = read_meta(onnx_path).training_data
    train = [s for s in read_manifest(run.manifest) if s.split == "train"]
    assert training["train_images_hashed"] == len(train) == 80
    assert leakguard.unpack(training[leakguard.HASH_KEY]) == {leakguard.short_hash(s.path) for s in train}


def test_eval_on_training_images_warns_even_when_they_are_copied_and_renamed(exported, tmp_path):
    from detector.train.evaluation import evaluate

    run, onnx_path = exported
    copies = tmp_path / "copies"
    for label in ("clean", "graffiti"):
        (copies / label).mkdir(parents=True)
        for i, src in enumerate(sorted((run.root / "train" / label).iterdir())[:3]):
            shutil.copyfile(src, copies / label / f"renamed-{i}.png")
    result = evaluate(onnx_path, [str(copies)], out_dir=tmp_path / "eval", progress=False)
    leak = json.loads((tmp_path / "eval" / "report.json").read_text())["leak_guard"]
    assert leak["images_in_training"] == 6 and leak["hash_origin"] == "model metadata"
    assert "6 of 6 evaluated images are in leak's training data" in leak["warning"]
    assert result.report["leak_guard"] == leak


def test_eval_on_held_out_images_gives_no_warning(exported, tmp_path):
    from detector.train.evaluation import evaluate

    run, onnx_path = exported
    result = evaluate(onnx_path, [str(run.val_dir)], out_dir=tmp_path / "eval", progress=False)
    leak = result.report["leak_guard"]
    assert leak["images_in_training"] == 0 and leak["warning"] is None and leak["hashes_known"] == 80


def test_eval_cli_prints_the_leak_warning(exported, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    run, onnx_path = exported
    code, stdout, stderr = run_cli(monkeypatch, capsys, "eval", str(onnx_path), "--data", str(run.root / "train"),
                                   "--out", str(tmp_path / "e"))
    assert code == 0, stderr
    assert "warning: 80 of 80 evaluated images are in leak's training data" in " ".join(stdout.split())


def test_a_source_the_model_trained_on_without_hashes_is_a_warning():
    from detector.data.sample import Sample

    samples = [Sample(path=Path("/nowhere/a.jpg"), label=1, group="a", source="street-graffiti")]
    report = leakguard.check({"sources": {"street-graffiti": {}, "synth": {}}}, samples, train_hashes=None,
                             origin="none recorded", model_name="m")
    assert report.shared_sources == ["street-graffiti"] and report.images_in_training is None
    assert "trained on source(s) street-graffiti and records no training file hashes" in report.warning


@pytest.mark.shared
def _copy_rows(rows, folder):
    for s in rows:
        (folder / ("graffiti" if s.label else "clean")).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s.path, folder / ("graffiti" if s.label else "clean") / s.path.name)
    return folder


def test_shipped_model_knows_its_training_files_and_its_committed_splits_too(tmp_path):
    """The shipped model's metadata records its training files' hashes; a model without them (as
    version 1 was) falls back to the splits committed beside it, models/splits/graffiti-effnetlite0/."""
    shared_dataset("street-graffiti")

    import onnx

    from detector.data.manifest import read_manifest
    from detector.train.evaluation import evaluate

    model = REPO / "models" / "graffiti-effnetlite0.onnx"
    split = REPO / "models" / "splits" / "graffiti-effnetlite0" / "street-graffiti.csv"
    train = _copy_rows([s for s in read_manifest(split) if s.split == "train"][:10], tmp_path / "train-sample")
    held = _copy_rows([s for s in read_manifest(split) if s.split == "val"][:10], tmp_path / "val-sample")
    leak = evaluate(model, [str(train)], out_dir=tmp_path / "e", progress=False).report["leak_guard"]
    assert leak["images_in_training"] == 10 and leak["hash_origin"] == "model metadata"
    leak = evaluate(model, [str(held)], out_dir=tmp_path / "v", progress=False).report["leak_guard"]
    assert leak["images_in_training"] == 0 and leak["warning"] is None

    # The same model without the hashes in its metadata, beside a copy of the committed splits.
    bare_dir = tmp_path / "models"
    shutil.copytree(REPO / "models" / "splits", bare_dir / "splits")
    proto = onnx.load(str(model))
    for prop in proto.metadata_props:
        if prop.key == "graffiti.training_data":
            training = json.loads(prop.value)
            assert training.pop(leakguard.HASH_KEY)
            prop.value = json.dumps(training)
    onnx.save(proto, str(bare_dir / "graffiti-effnetlite0.onnx"))
    leak = evaluate(bare_dir / "graffiti-effnetlite0.onnx", [str(train)], out_dir=tmp_path / "b",
                    progress=False).report["leak_guard"]
    assert leak["images_in_training"] == 10 and leak["hash_origin"].endswith("graffiti-effnetlite0/*.csv")
