"""The ``deepgrad`` command line: every subcommand, its files, and clear errors for bad input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepgrad.cli import main

pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lenet"
    assert main(["train", "--epochs", "2", "--out", str(out), "--quiet", "--no-plots"]) == 0
    return out


def test_train_writes_a_complete_run_folder(digits_run):
    names = set(os.listdir(digits_run))
    assert {"config.json", "log.jsonl", "report.json", "checkpoints"} <= names
    report = json.loads((digits_run / "report.json").read_text())
    assert 0.5 < report["test_accuracy"] <= 1 and len(report["confusion"]) == 10
    assert len((digits_run / "log.jsonl").read_text().splitlines()) == 2
    assert {"best.safetensors", "latest.json"} <= set(os.listdir(digits_run / "checkpoints"))


def test_evaluate_reproduces_the_reported_accuracy(digits_run, capsys):
    report = json.loads((digits_run / "report.json").read_text())
    best = json.loads((digits_run / "config.json").read_text())
    assert best["model"] == "lenet5"
    assert main(["evaluate", str(digits_run / "checkpoints" / "epoch-002.safetensors")]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {report['test_accuracy']:.4f}" in out


def _png(path, size, mode="L"):
    from PIL import Image
    rng = np.random.default_rng(0)
    shape = size[::-1] + ((3,) if mode == "RGB" else ())
    Image.fromarray(rng.integers(0, 255, shape).astype(np.uint8), mode).save(path)
    return str(path)


def test_predict_prints_a_class_and_probabilities(digits_run, tmp_path, capsys):
    pytest.importorskip("PIL")
    image = _png(tmp_path / "d.png", (8, 8))
    assert main(["predict", str(digits_run / "checkpoints" / "best.safetensors"), image]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(image) and line.count(":") >= 4


def test_predict_refuses_an_image_of_the_wrong_size_or_mode(digits_run, tmp_path, capsys):
    pytest.importorskip("PIL")
    ckpt = str(digits_run / "checkpoints" / "best.safetensors")
    for image in (_png(tmp_path / "big.png", (28, 28)), _png(tmp_path / "rgb.png", (8, 8), "RGB")):
        assert main(["predict", ckpt, image]) == 2
        assert "expected a 8x8 image in mode 'L'" in capsys.readouterr().err
    assert main(["predict", ckpt, "--resize", _png(tmp_path / "any.png", (40, 30), "RGB")]) == 0


def test_unknown_model_and_dataset_names_list_the_valid_ones(tmp_path, capsys):
    assert main(["train", "--data", "imagenet", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "unknown dataset 'imagenet': use one of digits, mnist, fashion-mnist, cifar10" in capsys.readouterr().err
    assert main(["summary", "vgg99"]) == 2
    assert "unknown model 'vgg99': use one of lenet5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "vgg99"])


def test_a_checkpoint_that_is_not_one_is_refused(tmp_path, capsys):
    path = tmp_path / "half.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    assert main(["evaluate", str(path)]) == 2
    assert "not a valid safetensors file" in capsys.readouterr().err


def test_models_and_summary_list_parameter_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "61,706" in out and "resnet20" in out
    assert main(["summary", "lenet5"]) == 0
    assert "Total params: 61,706" in capsys.readouterr().out


def test_every_zoo_model_can_be_summarised_and_trained_from_the_cli(capsys):
    from deepgrad.models import MODELS
    from deepgrad.train import recipes
    assert set(MODELS) <= set(recipes.MODEL_INPUT)
    assert main(["summary", "bn_inception"]) == 0
    assert "Total params:" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["evaluate", "--help"], ["predict", "--help"],
                                  ["models", "--help"], ["summary", "--help"]])
def test_help_everywhere(args):
    result = subprocess.run([sys.executable, "-m", "deepgrad"] + args, capture_output=True, text=True)
    assert result.returncode == 0 and "usage: deepgrad" in result.stdout
