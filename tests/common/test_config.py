"""Strict configs: unknown keys and wrong types are named; precedence of YAML, methods and CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.config import ConfigError, load_config, parse_overrides, to_dict
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class Train:
    lr: float = 0.1
    epochs: int = 3
    widths: tuple[int, ...] = (4, 4)
    optimizer: str = "sgd"


@dataclass(frozen=True)
class Cfg:
    seed: int = 0
    train: Train = field(default_factory=Train)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_yaml_methods_and_cli_in_that_order(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "train: {lr: 0.5, epochs: 7}\nmethods:\n  dfa: {train: {lr: 0.01}}\n")
    assert load_config(Cfg, path).train == Train(lr=0.5, epochs=7)
    assert load_config(Cfg, path, ["feedback.kind=dfa"]).train.lr == 0.01
    assert load_config(Cfg, path, ["feedback.kind=dfa", "train.lr=2"]).train.lr == 2.0
    cfg = load_config(Cfg, path, ["train.widths=[8, 16]", "feedback.projector.layout=independent"])
    assert cfg.train.widths == (8, 16) and cfg.feedback.projector.layout == "independent"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'train.lrr'"):
        load_config(Cfg, _yaml(tmp_path, "train: {lrr: 0.5}\n"))
    with pytest.raises(ConfigError, match="'feedback.projector.sed'"):
        load_config(Cfg, None, ["feedback.projector.sed=3"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=1.5", "train.epochs"),
        ("train.lr=fast", "train.lr"),
        ("seed=true", "seed"),
        ("feedback.projector.layout=diagonal", "feedback.projector.layout"),
        ("train.widths=3", "train.widths"),
    ],
)
def test_wrong_types_are_named(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        load_config(Cfg, None, [override])


def test_malformed_override_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["train.lr"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(Cfg, tmp_path / "nope.yaml")


def test_to_dict_round_trips() -> None:
    cfg = load_config(Cfg, None, ["train.widths=[1, 2]"])
    assert to_dict(cfg)["train"]["widths"] == [1, 2]
    assert load_config(Cfg, None, [f"train.widths={to_dict(cfg)['train']['widths']}"]) == cfg


def test_exponent_without_a_dot_is_a_number() -> None:
    assert load_config(Cfg, None, ["train.lr=1e-3"]).train.lr == 0.001
