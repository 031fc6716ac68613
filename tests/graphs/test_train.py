"""Graph runs: every experiment × method trains on a tiny Planetoid graph; DFA matches its formula; runs
are repeatable and resumable; bad input is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from common.config import ConfigError, load_config
from common.paths import ROOT
from common.run import cli, per_seed
from graphs.config import GraphsConfig
from graphs.models import MODELS
from graphs.train import main, make_task, train

CONFIGS = sorted((ROOT / "graphs" / "configs").glob("*.yaml"))
TINY_RUN = ["train.epochs=2", "feedback.align_every=1"]


def _run(tmp_path: Path, tiny: list[str], config: Path, *overrides: str, name: str = "run", extra=()) -> Path:
    out = tmp_path / name
    main(["--config", str(config), "--out", str(out), "--threads", "1", *extra, *tiny, *overrides])
    return out


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_every_experiment_has_a_config_and_a_registered_model() -> None:
    models = {p.stem.split("_")[0] for p in CONFIGS}
    assert models == {"cheb", "gcn", "spline", "gat", "dna", "gae"}
    for path in CONFIGS:
        cfg = load_config(GraphsConfig, path)
        assert cfg.model.name in MODELS and cfg.data.name.lower() == path.stem.split("_")[1]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", ["bp", "dfa", "shallow"])
def test_every_experiment_and_method_runs(tmp_path: Path, tiny: list[str], config: Path, kind: str, read_final) -> None:
    final = read_final(_run(tmp_path, tiny, config, f"feedback.kind={kind}", *TINY_RUN))
    assert final["method"] == kind and final["experiment"] == config.stem
    for value in final["metrics"].values():
        assert 0 <= value <= 1
    if kind == "dfa":
        assert "align/cos/p0" in _records(tmp_path / "run")[0]


def test_optical_feedback_goes_through_the_dfa_path(tmp_path: Path, tiny: list[str], read_final) -> None:
    pytest.importorskip("hardware.optical")
    final = read_final(_run(tmp_path, tiny, ROOT / "graphs/configs/gcn_cora.yaml", "feedback.kind=optical", *TINY_RUN))
    assert final["method"] == "optical"


def test_gcn_learns_and_dfa_beats_shallow(tmp_path: Path, tiny: list[str], read_final) -> None:
    config = ROOT / "graphs" / "configs" / "gcn_cora.yaml"
    acc = {}
    for kind in ("bp", "dfa", "shallow"):
        final = read_final(_run(tmp_path, tiny, config, f"feedback.kind={kind}", "train.epochs=40", name=kind))
        acc[kind] = final["metrics"]["test/acc"]
    assert acc["bp"] > 0.7 and acc["dfa"] > 0.7  # chance is 1/3
    assert acc["dfa"] > acc["shallow"] + 0.05


def test_gae_learns_links(tmp_path: Path, tiny: list[str], read_final) -> None:
    final = read_final(
        _run(tmp_path, tiny, ROOT / "graphs/configs/gae_cora.yaml", "feedback.kind=dfa", "train.epochs=60")
    )
    assert final["metrics"]["test/auc"] > 0.7 and final["budget"]["selection"] == "last"


@pytest.mark.parametrize("error_at", ["logits", "log_probs"])
def test_dfa_update_is_the_projected_error(tmp_path: Path, tiny: list[str], error_at: str) -> None:
    """conv1 gets B^T e through its own local graph, e = dNLL/dlogits (zero off the training nodes), or the
    authors' DNAConv variant e = dNLL/dlog-probs = -onehot/n; conv2 gets its true gradient given the
    (detached) hidden layer."""
    overrides = [*tiny, "feedback.kind=dfa", "model.dropout=0", f"model.error_at={error_at}"]
    cfg = load_config(GraphsConfig, ROOT / "graphs/configs/gcn_cora.yaml", overrides)
    torch.manual_seed(0)
    task = make_task(cfg, torch.device("cpu"))
    model = MODELS["gcn"](task.d_in, task.d_out, cfg.model, cfg.feedback, seed=0)
    model.train()
    model.fb.backward(task.loss(model))
    got = {name: p.grad.clone() for name, p in model.named_parameters()}

    h = model.hidden(task.x, task.edge_index)  # (N, 16), a fresh graph
    logits = model.conv2(h.detach(), task.edge_index)
    mask = task.masks["train"]
    n, onehot = int(mask.sum()), F.one_hot(task.y[mask], task.d_out).float()
    e = torch.zeros_like(logits)
    e[mask] = (F.softmax(logits[mask], -1) - onehot) / n if error_at == "logits" else -onehot / n
    signal = e @ model.fb.projector.B[:, :16]
    first, second = list(model.conv1.parameters()), list(model.conv2.parameters())
    expected_first = torch.autograd.grad(h, first, grad_outputs=signal)
    expected_second = torch.autograd.grad(F.cross_entropy(logits[mask], task.y[mask]), second)
    names = {id(p): n for n, p in model.named_parameters()}
    for p, g in [*zip(first, expected_first, strict=True), *zip(second, expected_second, strict=True)]:
        torch.testing.assert_close(got[names[id(p)]], g)


def test_same_seed_gives_identical_final_json(tmp_path: Path, tiny: list[str]) -> None:
    config = ROOT / "graphs" / "configs" / "gat_cora.yaml"  # dropout everywhere, attention included
    a = _run(tmp_path, tiny, config, "feedback.kind=dfa", "seed=3", "train.epochs=5", name="a")
    b = _run(tmp_path, tiny, config, "feedback.kind=dfa", "seed=3", "train.epochs=5", name="b")
    c = _run(tmp_path, tiny, config, "feedback.kind=dfa", "seed=4", "train.epochs=5", name="c")
    assert (a / "final.json").read_bytes() == (b / "final.json").read_bytes()
    assert _records(a)[-1]["train/loss"] != _records(c)[-1]["train/loss"]


def test_seeds_in_one_process_equal_each_seed_alone(tmp_path: Path, tiny: list[str], monkeypatch) -> None:
    config = ROOT / "graphs" / "configs" / "gat_cora.yaml"
    args = ["--config", str(config), "--threads", "1", *tiny, "feedback.kind=dfa", "train.epochs=3"]
    monkeypatch.setattr("sys.argv", ["graphs.train", "--seeds", "1,2", "--out", str(tmp_path / "batch"), *args])
    cli(main, runs=True)
    for seed in (1, 2):
        alone = _run(tmp_path, tiny, config, "feedback.kind=dfa", "train.epochs=3", f"seed={seed}", name=f"alone{seed}")
        batch = tmp_path / "batch" / f"seed{seed}"
        assert (batch / "final.json").read_bytes() == (alone / "final.json").read_bytes()
    assert (tmp_path / "batch/seed1/final.json").read_bytes() != (tmp_path / "batch/seed2/final.json").read_bytes()


def test_per_seed_expands_the_command_line() -> None:
    assert per_seed(["--config", "c.yaml", "--out", "o", "a=1"]) == [["--config", "c.yaml", "--out", "o", "a=1"]]
    assert per_seed(["--seeds", "0,3", "--out", "o", "--config", "c.yaml", "a=1"]) == [
        ["--out", "o/seed0", "--config", "c.yaml", "a=1", "seed=0"],
        ["--out", "o/seed3", "--config", "c.yaml", "a=1", "seed=3"],
    ]
    with pytest.raises(SystemExit, match="--out"):
        per_seed(["--seeds", "0,1", "--config", "c.yaml"])
    with pytest.raises(SystemExit):  # argparse: not integers
        per_seed(["--seeds", "0,x", "--out", "o"])
    with pytest.raises(SystemExit):  # main(argv) never expands seeds itself
        main(["--config", "c.yaml", "--out", "o", "--seeds", "0,1"])


@pytest.mark.parametrize("experiment", ["gcn_cora", "gae_cora", "dna_cora"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path: Path, tiny: list[str], experiment: str) -> None:
    config, args = ROOT / "graphs" / "configs" / f"{experiment}.yaml", ("feedback.kind=dfa", "train.epochs=4")
    whole = _run(tmp_path, tiny, config, *args, name="whole")
    with pytest.raises(SystemExit, match="stopped after 2 epoch"):
        _run(tmp_path, tiny, config, *args, name="cut", extra=("--stop-after", "2"))
    cut = tmp_path / "cut"
    assert not (cut / "final.json").exists() and (cut / "checkpoint.pt").exists()
    _run(tmp_path, tiny, config, *args, name="cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    assert [r["step"] for r in _records(cut)] == [1, 2, 3, 4]
    assert [r["train/loss"] for r in _records(cut)] == [r["train/loss"] for r in _records(whole)]


def test_a_crash_between_checkpoints_resumes_from_the_last_one(tmp_path: Path, tiny: list[str]) -> None:
    config, args = ROOT / "graphs" / "configs" / "gcn_cora.yaml", ("feedback.kind=dfa", "train.epochs=6")
    whole = _run(tmp_path, tiny, config, *args, name="whole")
    with pytest.raises(SystemExit):
        _run(tmp_path, tiny, config, *args, "train.checkpoint_every=2", name="cut", extra=("--stop-after", "2"))
    cut = tmp_path / "cut"
    with open(cut / "metrics.jsonl", "a") as fh:  # epochs logged after the last checkpoint, then a crash
        fh.write(json.dumps({"step": 3, "train/loss": 0.0}) + "\n" + '{"step": 4, "train/lo')
    _run(tmp_path, tiny, config, *args, "train.checkpoint_every=2", name="cut")
    assert (whole / "final.json").read_bytes() == (cut / "final.json").read_bytes()
    assert [r["train/loss"] for r in _records(cut)] == [r["train/loss"] for r in _records(whole)]


def test_tsne_figure_is_written(tmp_path: Path, tiny: list[str]) -> None:
    config, args = ROOT / "graphs/configs/gcn_cora.yaml", ("train.epochs=3", "tsne.enabled=true", "tsne.iterations=250")
    assert (_run(tmp_path, tiny, config, *args, name="a") / "tsne.png").stat().st_size > 10_000
    assert not (_run(tmp_path, tiny, config, *args, "seed=1", name="b") / "tsne.png").exists()  # seed 0 draws it


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.learning_rate=0.1", "'train.learning_rate'"),
        ("model.name=graphsage", "'model.name'"),
        ("feedback.kind=fa", "'feedback.kind'"),
        ("model.out_channels=8", "'model.out_channels'"),
        ("data.split=halves", "'data.split'"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, tiny: list[str], override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _run(tmp_path, tiny, ROOT / "graphs/configs/gcn_cora.yaml", override)


def test_one_training_step_changes_only_what_the_method_trains(tmp_path: Path, tiny: list[str]) -> None:
    """shallow: the first layer is frozen (no gradient), the output layer learns."""
    cfg = load_config(GraphsConfig, ROOT / "graphs/configs/gcn_cora.yaml", [*tiny, "feedback.kind=shallow"])
    task = make_task(cfg, torch.device("cpu"))
    model = MODELS["gcn"](task.d_in, task.d_out, cfg.model, cfg.feedback, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, torch.optim.Adam(model.parameters(), lr=0.01), task)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("conv2") for n in changed)
