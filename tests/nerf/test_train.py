"""NeRF runs: every experiment config for 2 steps on a tiny scene of its layout, every method, determinism,
resume, the pictures a run saves, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from common.config import ConfigError
from common.paths import ROOT, DataMissingError
from common.report import DomainContext
from nerf.config import TrainConfig
from nerf.report import sections
from nerf.train import KINDS, learning_rate, main, sample_pixels

from .conftest import SIZE, write_blender, write_llff, write_npz

CONFIGS = sorted((ROOT / "nerf" / "configs").glob("*.yaml"))
TINY = [
    "train.iters=2",
    "train.rays=32",
    "train.log_every=1",
    "sampling.coarse=8",
    "sampling.fine=8",
    "eval.render_views=1",
    "eval.turntable_frames=2",
    "eval.chunk=100",
]


def fixture_for(config: Path, tmp_path: Path) -> list[str]:
    """Point an experiment at a generated scene of its own layout."""
    fmt = (yaml.safe_load(config.read_text()).get("data") or {}).get("format", "blender")
    if fmt == "npz":
        return [f"data.root={write_npz(tmp_path / 'scene.npz')}"]
    if fmt == "llff":
        return [f"data.root={write_llff(tmp_path / 'llff')}", "data.llff_factor=2", "data.llff_hold=4"]
    return [f"data.root={write_blender(tmp_path / 'blender')}"]


def run(tmp_path: Path, config: Path, *overrides: str, name: str = "run", extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / name
    main(["--config", str(config), "--out", str(out), "--threads", "1", *extra, *TINY, *overrides])
    return out


def lines(out: Path) -> list[dict]:
    """metrics.jsonl without the timing fields (which depend on the machine)."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "its")} for r in records]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_experiment_runs_two_steps(tmp_path: Path, config: Path, read_final) -> None:
    out = run(tmp_path, config, "feedback.kind=dfa", "feedback.align_every=1", *fixture_for(config, tmp_path))
    final = read_final(out)
    assert final["experiment"] == config.stem and final["method"] == "dfa"
    assert 0 < final["metrics"]["test/psnr"] < 60 and -1 <= final["metrics"]["test/ssim"] <= 1
    assert final["budget"]["iters"] == 2
    records = lines(out)
    assert [r["step"] for r in records] == [1, 2] and "align/cos/p0" in records[-1]


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "optical"])
def test_every_method_runs_and_saves_its_pictures(tmp_path: Path, npz_scene: Path, kind: str, read_final) -> None:
    out = run(tmp_path, CONFIGS[0], f"feedback.kind={kind}", f"data.root={npz_scene}", "eval.every=1")
    assert read_final(out)["method"] == kind
    assert {p.name for p in (out / "renders").iterdir()} == {"test_000.png", "gt_000.png", "depth_000.png"}
    gif = Image.open(out / "turntable.gif")
    assert gif.n_frames == 2 and gif.size == (2 * SIZE, SIZE)  # colour | depth
    assert {"train/psnr", "lr", "its", "monitor/psnr"} <= set(
        json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    )


def test_optical_feedback_runs_through_the_dfa_path(tmp_path: Path, npz_scene: Path, read_final) -> None:
    pytest.importorskip("hardware.optical")
    out = run(tmp_path, CONFIGS[0], "feedback.kind=optical", f"data.root={npz_scene}", "eval.turntable_frames=0")
    assert read_final(out)["method"] == "optical"


def test_bf16_autocast_and_image_batching_run(tmp_path: Path, npz_scene: Path, read_final) -> None:
    out = run(
        tmp_path,
        CONFIGS[0],
        "train.amp=bf16",
        "train.batching=image",
        "train.precrop_iters=1",
        "feedback.kind=dfa",
        f"data.root={npz_scene}",
        "eval.turntable_frames=0",
    )
    assert read_final(out)["metrics"]["test/psnr"] > 0


def test_same_seed_same_results(tmp_path: Path, npz_scene: Path) -> None:
    args = ("feedback.kind=dfa", f"data.root={npz_scene}", "eval.turntable_frames=0", "train.iters=3")
    a, b = run(tmp_path, CONFIGS[0], *args, name="a"), run(tmp_path, CONFIGS[0], *args, name="b")
    c = run(tmp_path, CONFIGS[0], *args, "seed=1", name="c")
    assert (a / "final.json").read_bytes() == (b / "final.json").read_bytes()
    assert lines(a) == lines(b)
    assert (a / "final.json").read_bytes() != (c / "final.json").read_bytes()


def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path, npz_scene: Path) -> None:
    args = (
        "feedback.kind=dfa",
        f"data.root={npz_scene}",
        "eval.turntable_frames=0",
        "train.iters=4",
        "train.checkpoint_every=100",
        "eval.every=2",
    )
    whole = run(tmp_path, CONFIGS[0], *args, name="whole")
    with pytest.raises(SystemExit, match="stopped after 3 step"):
        run(tmp_path, CONFIGS[0], *args, name="cut", extra=("--stop-after", "3"))
    cut = tmp_path / "cut"
    assert not (cut / "final.json").exists() and (cut / "checkpoint.pt").exists()
    run(tmp_path, CONFIGS[0], *args, name="cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    assert lines(whole) == lines(cut)


def test_bad_input_is_named(tmp_path: Path, npz_scene: Path) -> None:
    with pytest.raises(ConfigError, match="sampling.coarsee"):
        run(tmp_path, CONFIGS[0], "sampling.coarsee=3")
    with pytest.raises(ConfigError, match="'feedback.kind' must be one of"):
        run(tmp_path, CONFIGS[0], "feedback.kind=fa", f"data.root={npz_scene}")
    with pytest.raises(DataMissingError, match="nowhere.npz"):
        run(tmp_path, CONFIGS[0], f"data.root={tmp_path / 'nowhere.npz'}")


def test_learning_rate_decays_exponentially() -> None:
    cfg = TrainConfig(lr=5e-4, lr_decay_steps=1000, lr_decay_rate=0.1)
    assert learning_rate(cfg, 0) == 5e-4
    assert abs(learning_rate(cfg, 1000) - 5e-5) < 1e-12 and abs(learning_rate(cfg, 500) - 5e-4 * 0.1**0.5) < 1e-12


def test_ray_batches_cover_all_views_or_one_and_respect_the_crop() -> None:
    gen = torch.Generator()
    index = sample_pixels(TrainConfig(rays=4096), 0, 0, 5, 10, 20, gen)
    views, pixels = index // 200, index % 200
    assert set(views.tolist()) == set(range(5)) and pixels.max() < 200
    one = sample_pixels(TrainConfig(rays=256, batching="image"), 0, 0, 5, 10, 20, gen)
    assert len(set((one // 200).tolist())) == 1
    crop = sample_pixels(TrainConfig(rays=4096, precrop_iters=10, precrop_frac=0.5), 0, 3, 5, 10, 20, gen) % 200
    rows, cols = crop // 20, crop % 20
    assert rows.min() >= 3 and rows.max() < 7 and cols.min() >= 5 and cols.max() < 15


def test_ray_batches_are_a_function_of_seed_and_step() -> None:
    """Every process of a torchrun launch, and a resumed run, draws the same batch for a step."""
    cfg, gen = TrainConfig(rays=512), torch.Generator()
    first = sample_pixels(cfg, 1, 7, 5, 10, 20, gen)
    torch.rand(100, generator=gen)  # whatever was drawn in between
    assert torch.equal(sample_pixels(cfg, 1, 7, 5, 10, 20, gen), first)
    assert not torch.equal(sample_pixels(cfg, 1, 8, 5, 10, 20, gen), first)
    assert not torch.equal(sample_pixels(cfg, 2, 7, 5, 10, 20, gen), first)


def test_report_shows_methods_side_by_side(tmp_path: Path, npz_scene: Path) -> None:
    args = (f"data.root={npz_scene}", "eval.render_views=2")
    dirs = {k: run(tmp_path, CONFIGS[0], f"feedback.kind={k}", *args, name=k) for k in ("bp", "dfa")}
    ctx = DomainContext(
        "nerf", "adhoc", {}, [], {(CONFIGS[0].stem, k): [d] for k, d in dirs.items()}, tmp_path / "figures", tmp_path
    )
    (markdown,) = sections(ctx)
    grid = tmp_path / "figures" / f"nerf_{CONFIGS[0].stem}_renders.png"
    assert grid.exists() and f"figures/{grid.name}" in markdown
    assert (tmp_path / "figures" / f"nerf_{CONFIGS[0].stem}_dfa_turntable.gif").exists() and "| bp | dfa |" in markdown
