"""``graffiti bank``: a nearest-neighbour vote over clean and paint training tiles folded into the ONNX score.

The graph's score must equal min(network score, max(share of paint among the k nearest bank tiles, floor))
computed in numpy from the same features; the banks hold what the thresholds say; the banked model reads as a normal model
(edge session, re-chosen thresholds, metadata); user mistakes are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.train.tiny_run import shared_tiny_run

    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def model(run):
    from tests.train.tiny_run import photo_model

    return photo_model(run)


@pytest.fixture(scope="module")
def tiles():
    from tests.train.tiny_run import wall_image

    rng = np.random.default_rng(7)
    return [wall_image(rng, bool(i % 2)) for i in range(12)]


def test_feature_tensor_is_the_classifier_input(model):
    from detector.train.bank import feature_tensor

    g = onnx.load(str(model)).graph
    name = feature_tensor(g)
    consumers = [n for n in g.node if name in n.input]
    assert any(n.op_type in ("Gemm", "MatMul") for n in consumers)


def test_feature_tensor_refuses_a_graph_without_a_linear_layer():
    from onnx import TensorProto, helper

    from detector.errors import ConfigError
    from detector.train.bank import feature_tensor

    g = helper.make_graph([helper.make_node("Relu", ["input"], ["score"])], "g",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])])
    with pytest.raises(ConfigError, match="linear layer"):
        feature_tensor(g)


@pytest.mark.parametrize("dtype,floor", [("float32", 0.0), ("int8", 0.0), ("int8", 0.4)])
def test_graph_score_is_min_of_network_score_and_numpy_vote(model, tiles, tmp_path, dtype, floor):
    from detector.onnxmodel import ModelSession, read_meta
    from detector.train.bank import Bank, FeatureSession, attach_bank

    fs = FeatureSession(model)
    s, f = fs(tiles)
    assert f.shape[0] == len(tiles) and np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    rng = np.random.default_rng(0)
    clean = f[:6] + rng.normal(0, 0.05, f[:6].shape).astype(np.float32)
    paint = f[6:] + rng.normal(0, 0.05, f[6:].shape).astype(np.float32)
    norm = np.linalg.norm
    bank = Bank(clean=clean / norm(clean, axis=1, keepdims=True), paint=paint / norm(paint, axis=1, keepdims=True),
                k=3, info={"k": 3})
    out = attach_bank(model, bank, tmp_path / "banked.onnx", dtype, floor=floor)
    info = read_meta(out).extra["clean_bank"]
    assert info["dtype"] == dtype and info["floor"] == pytest.approx(floor)
    assert info["veto"] == ("alert" if floor else "score")
    got = ModelSession(out).score(tiles)
    want = np.minimum(s, np.maximum(bank.vote(f), floor))
    assert np.allclose(got, want, atol=1e-5)
    assert not np.allclose(got, s)  # some tiles' nearest bank tiles are clean: their scores drop
    # ... and never under the floor unless the network itself reads them there
    assert np.all((got >= floor - 1e-6) | np.isclose(got, s, atol=1e-5))


def test_int8_rows_keep_the_similarity_ranking():
    from detector.train.bank import quantize_rows, unit

    rng = np.random.default_rng(3)
    table = unit(rng.normal(size=(200, 64)).astype(np.float32))
    q, scale = quantize_rows(table)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.allclose(q * scale[:, None], table, atol=scale.max())
    query = unit(rng.normal(size=(20, 64)).astype(np.float32))
    exact = np.argsort(-(query @ table.T), axis=1)[:, :5]
    approx = np.argsort(-(query @ (q * scale[:, None]).T), axis=1)[:, :5]
    assert np.mean(exact == approx) > 0.9


def test_a_tile_that_is_in_the_clean_bank_is_quietened_and_one_in_the_paint_bank_keeps_its_score(model, tiles,
                                                                                                  tmp_path):
    from detector.onnxmodel import ModelSession
    from detector.train.bank import Bank, FeatureSession, attach_bank

    s, f = FeatureSession(model)(tiles)
    far = -f[:1]  # opposite direction: never a nearest neighbour of a real tile
    quiet = ModelSession(attach_bank(model, Bank(clean=f, paint=far, k=1, info={}), tmp_path / "q.onnx")).score(tiles)
    # (both with the default int8 bank: a tile identical to a bank tile is its own nearest neighbour)
    loud = ModelSession(attach_bank(model, Bank(clean=far, paint=f, k=1, info={}), tmp_path / "l.onnx")).score(tiles)
    assert np.allclose(quiet, 0.0, atol=1e-6)
    assert np.allclose(loud, s, atol=1e-5)
    # vetoing the alert only: a quietened tile is held at the floor, one the network reads under it keeps its score
    held = ModelSession(attach_bank(model, Bank(clean=f, paint=far, k=1, info={}), tmp_path / "h.onnx",
                                    floor=0.5)).score(tiles)
    assert np.allclose(held, np.minimum(s, 0.5), atol=1e-6)
    assert (s > 0.5).any() and (s < 0.5).any()  # both cases happen on these tiles


def test_just_below_is_the_largest_float32_score_under_the_threshold():
    from detector.train.bank import just_below

    for t in (0.5376995265089832, 0.5, 0.3, 1e-3):
        b = just_below(t)
        assert b < t and np.float32(b) == b
        assert float(np.nextafter(np.float32(b), np.float32(1.0))) >= t  # the next float32 up is at or over it


def test_select_bank_keeps_warm_clean_tiles_and_hot_paint_tiles():
    from detector.train.bank import ViewFeatures, select_bank

    feats = np.eye(6, dtype=np.float32)
    views = ViewFeatures(labels=np.array([0, 0, 0, 1, 1, 1]), scores=np.array([0.01, 0.1, 0.8, 0.3, 0.95, 0.99]),
                         feats=feats, photos=2)
    clean, paint = select_bank(views, k=1, clean_min=0.05, hot=0.9)
    assert np.array_equal(clean, feats[[1, 2]]) and np.array_equal(paint, feats[[4, 5]])


@pytest.mark.parametrize("thresholds", ["keep", "policy"])
def test_bank_model_end_to_end_records_the_bank_and_its_thresholds(run, model, tmp_path, thresholds):
    from detector.onnxmodel import ModelSession, read_meta
    from detector.train.bank import bank_model

    data = [f"{run.manifest}::format=manifest"]
    out = tmp_path / "banked.onnx"
    bank, result = bank_model(model, data, out, k=3, clean_min=0.0, hot=0.5, min_side_px=0,
                              threshold_min_side_px=0, thresholds=thresholds,
                              veto="alert" if thresholds == "keep" else "score", progress=False)
    meta, before = read_meta(out), read_meta(model)
    info = meta.extra["clean_bank"]
    assert info["split"] == "train" and info["k"] == 3
    assert info["clean_tiles"] == len(bank.clean) > 0 and info["paint_tiles"] == len(bank.paint) > 0
    assert meta.extra["rethreshold"]["previous"]["threshold"] == pytest.approx(before.threshold)
    assert meta.threshold == pytest.approx(result.meta.threshold)
    policy = meta.extra["threshold_policy"]
    if thresholds == "keep":  # the network's thresholds, with what they give on the banked scores
        assert (meta.threshold, meta.clean_threshold) == (before.threshold, before.clean_threshold)
        assert info["veto"] == "alert" and before.clean_threshold < info["floor"] < before.threshold
        assert policy["policy"] == "kept"
        assert policy["fpr"] == pytest.approx(result.validation["fpr"])  # measured on the banked scores
    else:
        assert policy["policy"] == "max_fpr" and policy["target"] == pytest.approx(0.02)
        assert policy["fpr"] <= 0.02
    session = ModelSession(out)  # the edge's loader reads it
    assert session.meta.extra["clean_bank"]["dim"] == bank.clean.shape[1]
    from detector.errors import ConfigError

    with pytest.raises(ConfigError, match="already has a clean bank"):
        bank_model(out, data, tmp_path / "twice.onnx", min_side_px=0, progress=False)


def test_bank_cli_errors_are_one_line(run, model, tmp_path, monkeypatch, capsys):
    from tests.train.tiny_run import run_cli

    data = f"{run.manifest}::format=manifest"
    for args, word in (
        (["--k", "0"], "--k"),
        (["--hot", "1.5"], "--hot"),
        (["--min-side", "100000"], "--min-side"),
        (["--clean-min", "1.0", "--min-side", "0"], "--clean-min"),
    ):
        code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data,
                                  "--out", str(tmp_path / "b.onnx"), *args)
        assert code == 2 and stderr.strip().count("\n") == 0 and word in stderr, (args, stderr)
    code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data, "--out", str(tmp_path / "b.onnx"),
                              "--max-fpr", "0.05")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--thresholds policy" in stderr, stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data, "--out", str(tmp_path / "b.onnx"),
                              "--thresholds", "policy")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--veto score" in stderr, stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data, "--out", str(tmp_path / "b.onnx"),
                              "--veto", "maybe")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--veto" in stderr, stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data, "--out", str(tmp_path / "b.onnx"),
                              "--thresholds", "lowest")
    assert code == 2 and stderr.strip().count("\n") == 0 and "--thresholds" in stderr, stderr
    code, _, stderr = run_cli(monkeypatch, capsys, "bank", str(model), "--data", data, "--out", str(model))
    assert code == 2 and stderr.strip().count("\n") == 0 and "--out" in stderr
