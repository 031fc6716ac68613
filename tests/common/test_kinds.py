"""The registry of feedback kinds: families, selection, registration rules, and the layering it keeps."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from common import kinds
from common.config import ConfigError
from common.fa import FA_KINDS
from common.feedback import Feedback, FeedbackConfig
from common.kinds import Kind
from common.projectors import ProjectorConfig, RandomProjector

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("vision", "graphs", "recsys", "nerf", "nlp")


class NegatedProjector(RandomProjector):
    """A kind that exists only in this test: ``-e @ B``."""

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return -super().forward(e)


def _negated(cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...], seed: int) -> NegatedProjector:
    return NegatedProjector(d_err, dims, cfg.projector, seed)


@pytest.fixture
def negated() -> Iterator[Kind]:
    kind = kinds.register(Kind("negated_dfa", "direct", "test only: -e @ B", _negated))
    yield kind
    del kinds.KINDS[kind.name]


def test_built_in_kinds_and_their_families() -> None:
    assert kinds.select("chain") == ("bp", "fa", "usf", "brsf", "frsf")
    assert kinds.get("dfa").family == "direct" and kinds.get("shallow").family == "frozen"
    assert set(FA_KINDS) == set(kinds.select("chain")) - {"bp"}, "common.fa implements every chain kind but bp"


def test_select_takes_families_and_kind_names_in_registration_order(negated: Kind) -> None:
    assert kinds.select("bp", "frozen") == ("bp", "shallow")
    direct = kinds.select("direct")
    assert direct[0] == "dfa" and direct[-1] == "negated_dfa"  # a new kind reaches every domain of its family
    with pytest.raises(ValueError, match="neither a family"):
        kinds.select("direkt")


def test_a_kind_registered_alone_trains_through_the_core(negated: Kind) -> None:
    """Registering a direct kind is all the core needs: its projector gives the points their signal."""
    signals = {}
    for name in ("dfa", "negated_dfa"):
        torch.manual_seed(0)
        layer, head = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
        fb = Feedback(FeedbackConfig(kind=name, projector=ProjectorConfig(seed=5)), d_err=3, dims=(6,), seed=1)
        x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        fb.backward(F.cross_entropy(fb.output(head(fb.point(torch.tanh(layer(x))))), y))
        signals[name] = layer.weight.grad
        assert head.weight.grad is not None  # the output layer learns from its true gradient
    torch.testing.assert_close(signals["negated_dfa"], -signals["dfa"])


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (Kind("no_projector", "direct", "x"), "needs a projector factory"),
        (Kind("stray_projector", "chain", "x", _negated), "needs a projector factory"),
        (Kind("odd", "sideways", "x"), "family must be one of"),  # type: ignore[arg-type]
        (Kind("direct", "frozen", "x"), "name of a family"),
        (Kind("dfa", "direct", "another dfa", _negated), "already registered"),
    ],
)
def test_bad_registrations_are_refused(kind: Kind, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kinds.register(kind)
    assert kinds.get("dfa").projector is not _negated


def test_registering_the_same_kind_twice_is_harmless() -> None:
    assert kinds.register(kinds.get("dfa")) is kinds.get("dfa")


def test_unknown_kind_and_methods_key_are_named() -> None:
    with pytest.raises(ConfigError, match=r"'feedback.kind' must be one of \['bp'.*got 'dfaa'"):
        kinds.get("dfaa")
    assert kinds.method_keys("dfa") == ("direct", "dfa")
    kinds.check_methods({"bp": {}, "direct": {}, "shallow": {}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: 'methods.dfaa' names no feedback kind"):
        kinds.check_methods({"dfaa": {}}, "x.yaml")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "common").glob("*.py")), ids=lambda p: p.name)
def test_common_never_imports_a_domain_or_hardware(path: Path) -> None:
    assert not _imports(path) & {*DOMAINS, "hardware"}


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_config_imports_the_hardware_kinds(domain: str) -> None:
    """Wherever a domain's configs are loaded (its train, the workflow, tests), the hardware kinds are known."""
    assert "hardware" in _imports(ROOT / domain / "config.py")


def test_common_alone_loads_no_hardware_and_a_domain_config_registers_it() -> None:
    code = (
        "import importlib, pkgutil, sys; import common; from common import kinds; "
        "[importlib.import_module(f'common.{m.name}') for m in pkgutil.iter_modules(common.__path__)]; "
        "assert 'hardware' not in sys.modules and 'optical' not in kinds.KINDS, 'common imported hardware'; "
        "import vision.config; print(' '.join(kinds.select('direct')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["dfa", "optical", "dfa_ternary"]
