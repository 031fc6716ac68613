"""The convolutional experiments: every model × kind trains for 2 steps, every shipped config builds its model,
the best-validation epoch is the one reported, and runs with augmentation and batch norm are repeatable and
resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.config import ConfigError, load_config
from common.datasets import dataset_of, datasets
from common.paths import ROOT
from common.report import DomainContext
from tests.vision.conftest import write_npz
from vision.config import VisionConfig
from vision.data import DATASETS, load
from vision.models import build_model
from vision.report import sections
from vision.train import KINDS, main

CONV_CONFIGS = sorted(p for p in (ROOT / "vision" / "configs").glob("*.yaml") if not p.name.startswith("mlp"))
MODELS = {  # a config of each network, and the image size it trains on here (LeNet needs 32×32)
    "mlp": (["model.name=mlp", "model.hidden=[16, 16]"], 8),
    "lenet": (["model.name=lenet"], 32),
    "lenet_cifar": (["model.name=lenet_cifar"], 32),
    "resnet20": (["model.name=resnet", "model.depth=20"], 8),
    "resnet56": (["model.name=resnet", "model.depth=56"], 8),
}
TWO_STEPS = ["train.epochs=1", "train.batch_size=16", "train.optimizer=sgd", "train.lr=0.01", "train.eval_batch=8"]


def _train(tmp_path: Path, *overrides: str, name: str = "run", extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / name
    config = ROOT / "vision" / "configs" / "lenet_mnist.yaml"
    main(["--config", str(config), "--out", str(out), "--threads", "1", *extra, *overrides])
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_model_and_kind_trains_two_steps(tmp_path: Path, model: str, kind: str, read_final) -> None:
    # 40 images, 8 of them test, 32 train in 2 batches of 16; align_every=1 measures alignment / FA statistics.
    settings, size = MODELS[model]
    npz_file = write_npz(tmp_path / "images.npz", shape=(size, size, 3))
    data = [
        "data.name=npz",
        f"data.path={npz_file}",
        "data.val_size=0",
        "feedback.align_every=1",
        "train.align_batch=8",
    ]
    out = _train(tmp_path, *data, *settings, *TWO_STEPS, f"feedback.kind={kind}")
    final = read_final(out)
    assert final["method"] == kind and final["budget"]["train_images"] == 32
    assert 0 <= final["metrics"]["test/err"] <= 100
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    if kind in ("dfa", "optical", "dfa_ternary"):
        assert {"align/cos/p0", "align/angle/p0"} <= set(record)
    if kind in ("fa", "usf", "brsf", "frsf"):
        assert {"fa/ratio/l0", "fa/angle/l0"} <= set(record)


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "optical"])
def test_every_shipped_config_builds_its_network(config: Path, kind: str) -> None:
    cfg = load_config(VisionConfig, config, [f"feedback.kind={kind}"])
    channels = 3 if cfg.data.name == "cifar10" else 1
    size = cfg.data.resize or 32
    model = build_model(cfg.model, cfg.feedback, (channels, size, size), 10)
    assert model(torch.zeros(2, channels, size, size)).shape == (2, 10)
    model.fb.reset()


def test_resnet_depths_and_their_feedback_points() -> None:
    cfg = load_config(VisionConfig, None, ["model.name=resnet", "model.depth=56", "feedback.kind=dfa"])
    model = build_model(cfg.model, cfg.feedback, (3, 32, 32), 10)
    # The stem, then 9 blocks per stage; each point is a block's whole C×H×W output.
    assert model.fb.dims == (16 * 32 * 32,) * 10 + (32 * 16 * 16,) * 9 + (64 * 8 * 8,) * 9
    assert sum(p.numel() for p in model.parameters()) == 853_018  # He et al. 2016, Table 6: 0.85M
    with pytest.raises(ConfigError, match="6n \\+ 2"):
        build_model(
            load_config(VisionConfig, None, ["model.name=resnet", "model.depth=21"]).model,
            cfg.feedback,
            (3, 32, 32),
            10,
        )


def test_lenet_refuses_images_too_small_for_it() -> None:
    cfg = load_config(VisionConfig, None, ["model.name=lenet"])
    with pytest.raises(ConfigError, match="at least 32×32.*data.resize"):
        build_model(cfg.model, cfg.feedback, (1, 28, 28), 10)


def test_the_best_validation_epoch_is_reported(tmp_path: Path, read_final) -> None:
    out = _train(
        tmp_path, "data.train_limit=600", "data.val_size=200", "data.test_limit=200", "train.epochs=4", "train.lr=0.05"
    )
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = min(records, key=lambda r: r["val/err"])  # the first of equals, as the run keeps the earlier epoch
    final = read_final(out)
    assert final["selected_epoch"] == best["step"]
    assert final["metrics"] == {k: best[k] for k in ("test/err", "test/acc", "test/loss", "val/err")}
    assert final["budget"]["train_images"] == 400 and "MNIST" in final["data"]["name"]


def test_mnist_is_resized_to_32_and_validation_is_fixed_across_seeds() -> None:
    cfg = load_config(
        VisionConfig, ROOT / "vision" / "configs" / "lenet_mnist.yaml", ["data.train_limit=300", "data.val_size=100"]
    )
    a = load(cfg.data)
    b = load(
        load_config(
            VisionConfig,
            ROOT / "vision" / "configs" / "lenet_mnist.yaml",
            ["data.train_limit=300", "data.val_size=100", "seed=7"],
        ).data
    )
    assert a.shape == (1, 32, 32) and len(a.train.y) == 200 and len(a.val.y) == 100
    assert torch.equal(a.val.x, b.val.x)
    assert a.train.x.mean().abs() < 0.2  # normalised by the dataset's statistics


def _cifar_args(cifar_dir: Path, *overrides: str) -> tuple[str, ...]:
    # 40 training images in 5 batches of 8 (8 of them for validation), 8 test images; random crops and flips.
    return (
        f"data.path={cifar_dir}",
        *overrides,
        "feedback.kind=dfa",
        "feedback.align_every=1",
        "train.align_batch=8",
        "train.epochs=3",
    )


def test_resnet_with_augmentation_and_batch_norm_is_repeatable_and_resumable(tmp_path: Path, cifar_dir: Path) -> None:
    config = ROOT / "vision" / "configs" / "resnet20_cifar10_adam.yaml"
    args = _cifar_args(cifar_dir, "data.val_size=8", "train.batch_size=16", "train.eval_batch=8", "train.epochs=2")

    def run(name: str, *extra: str) -> Path:
        main(["--config", str(config), "--out", str(tmp_path / name), "--threads", "1", *extra, *args])
        return tmp_path / name

    whole, again = run("whole"), run("again")
    assert (whole / "final.json").read_bytes() == (again / "final.json").read_bytes()
    with pytest.raises(SystemExit):
        run("cut", "--stop-after", "1")
    cut = run("cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    assert DATASETS["cifar10"].label in (whole / "final.json").read_text()


@pytest.mark.parametrize("config", sorted((ROOT / "vision" / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_each_experiment_resolves_to_its_listed_dataset(config: Path) -> None:
    listed = dataset_of("vision", config.stem)
    assert listed is not None, f"{config.stem} names none of {list(datasets('vision'))}"
    data = load_config(VisionConfig, config).data
    assert {key: getattr(data, key) for key in listed.data} == listed.data


def test_report_shows_biotorch_layout_and_per_layer_feedback(tmp_path: Path) -> None:
    run_dirs = {}
    finals = []
    for method, err in (("bp", 1.25), ("fa", 3.5), ("dfa", 2.0)):
        run_dir = tmp_path / "lenet_mnist" / method / "seed0"
        run_dir.mkdir(parents=True)
        record = {"step": 1, "test/err": err}
        if method == "fa":
            record |= {"fa/ratio/l0": 0.9, "fa/angle/l0": 88.0, "fa/ratio/l1": 0.5, "fa/angle/l1": 70.0}
        if method == "dfa":
            record |= {"align/angle/p0": 80.0, "align/cos/p0": 0.1, "align/angle/p1": 40.0, "align/cos/p1": 0.6}
        (run_dir / "metrics.jsonl").write_text(json.dumps(record) + "\n")
        finals.append({"experiment": "lenet_mnist", "method": method, "metrics": {"test/err": err}})
        run_dirs[("lenet_mnist", method)] = [run_dir]
    ctx = DomainContext("vision", "default", {}, finals, run_dirs, tmp_path / "figures", tmp_path)
    layout, layers = sections(ctx)
    assert "| bp | 1.25 (0.91) |" in layout and "| shallow | — |" in layout
    assert "| fa | ‖B‖ / ‖W‖ (feedback / forward weight norm) | 0.90 | 0.50 |" in layers
    assert "| dfa | DFA: angle(DFA update, BP update) [deg] | 80.00 | 40.00 |" in layers
    assert (tmp_path / "figures" / "vision_lenet_mnist_per_layer.png").exists()


def test_your_own_images_with_the_readme_command(tmp_path: Path, read_final) -> None:
    # README "Your own data": python -m vision.train --config vision/configs/lenet_mnist.yaml --out results/mine
    # data.name=npz data.path=images.npz data.val_size=500 (here 20 of 160 training images; one short epoch).
    images = write_npz(tmp_path / "images.npz", n=200, shape=(28, 28), classes=3)
    out = _train(tmp_path, "data.name=npz", f"data.path={images}", "data.val_size=20", "train.epochs=1")
    final = read_final(out)
    assert final["data"]["name"] == "images.npz (your .npz)" and final["data"]["path"] == str(images)
    assert final["data"]["detail"].startswith("140 train / 20 val / 40 test images, 1×32×32, 3 classes")
    assert final["selected_epoch"] == 1 and 0 <= final["metrics"]["test/err"] <= 100
