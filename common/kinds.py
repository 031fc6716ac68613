"""The registry of feedback kinds: every value ``feedback.kind`` may take, and how each one learns.

A kind belongs to one **family**, which is all the feedback core (:mod:`common.feedback`) needs to know:

* ``chain`` — the error travels down the layer chain; points are the identity. ``bp``, and Lillicrap's
  ``fa`` with its sign-symmetric variants ``usf``, ``brsf``, ``frsf``, whose *layers* choose the backward
  matrix (:mod:`common.fa`).
* ``direct`` — every point cuts the graph and receives the kind's projection of the output error
  ``e``: ``dfa`` (a digital random matrix, :mod:`common.projectors`).
* ``frozen`` — every point cuts the graph and receives nothing: ``shallow`` (only the layers above the
  last point learn).

A direct kind brings its **projector factory**, ``factory(feedback_cfg, d_err, dims, matrix_seed)``.
Kinds defined outside ``common`` register themselves with :func:`register` when their module is
imported; ``common`` never imports them. The hardware package does so in :mod:`hardware.kinds`
(``optical``, ``dfa_ternary``), which every domain's config module imports, so that its kinds are known
wherever that domain's configs are loaded (training, the workflow, tests).

Domains state which families they support (:func:`select`), not lists of kinds, so a new kind reaches
every domain that supports its family. In a config file, ``methods:`` settings may name a family
instead of a kind; a kind takes its family's settings, then its own (see :func:`method_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from common.config import ConfigError

if TYPE_CHECKING:  # the factories build torch modules; this module stays import-light for configs
    from common.feedback import FeedbackConfig
    from common.projectors import Projector

Family = Literal["chain", "direct", "frozen"]
FAMILIES: tuple[Family, ...] = ("chain", "direct", "frozen")

ProjectorFactory = Callable[["FeedbackConfig", int, tuple[int, ...], int], "Projector"]
"""``(feedback config, d_err, point widths, matrix seed) -> Projector`` of a direct kind."""


@dataclass(frozen=True)
class Kind:
    """One learning rule, as ``feedback.kind`` names it."""

    name: str
    """The ``feedback.kind`` value."""
    family: Family
    """What the core does at a feedback point (module docstring)."""
    summary: str
    """One line: what the kind does (docs, error messages)."""
    projector: ProjectorFactory | None = None
    """Direct kinds only: builds the fixed projection of the error to the points."""


def _digital(cfg: FeedbackConfig, d_err: int, dims: tuple[int, ...], seed: int) -> Projector:
    from common.projectors import RandomProjector  # local: torch loads when a model is built, not a config

    return RandomProjector(d_err, dims, cfg.projector, seed)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("bp", "chain", "backpropagation"),
        Kind("fa", "chain", "feedback alignment: a fixed random matrix per layer (Lillicrap et al. 2016)"),
        Kind("usf", "chain", "uniform sign-concordant feedback: sign(W) times mean |W| (Liao et al. 2016)"),
        Kind("brsf", "chain", "sign-concordant feedback, random magnitudes redrawn every batch (Liao et al. 2016)"),
        Kind("frsf", "chain", "sign-concordant feedback, fixed random magnitudes (Liao et al. 2016)"),
        Kind("dfa", "direct", "direct feedback alignment: e @ B with a fixed random B", _digital),
        Kind("shallow", "frozen", "hidden layers frozen at their initialisation; only the top learns"),
    )
}
"""Every registered kind, in registration order: the built-in ones, then those registered on import."""


def register(kind: Kind) -> Kind:
    """Add a kind to :data:`KINDS` (registering the same definition twice is harmless)."""
    if kind.family not in FAMILIES:
        raise ValueError(f"kind {kind.name!r}: family must be one of {FAMILIES}, got {kind.family!r}")
    if (kind.family == "direct") != (kind.projector is not None):
        raise ValueError(f"kind {kind.name!r}: a direct kind needs a projector factory, and only a direct kind")
    if kind.name in FAMILIES:
        raise ValueError(f"kind {kind.name!r}: the name of a family cannot name a kind (methods: would be ambiguous)")
    known = KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"kind {kind.name!r} is already registered as {known}")
    KINDS[kind.name] = kind
    return kind


def get(name: str) -> Kind:
    """The kind called ``name``; an unknown name is a :class:`ConfigError` listing the registered ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(f"'feedback.kind' must be one of {list(KINDS)} (registered kinds), got {name!r}") from None


def select(*names: str) -> tuple[str, ...]:
    """The registered kinds that belong to any of the given families or are named outright, in registration
    order: ``select("bp", "direct", "frozen")`` is BP plus every direct and frozen kind, present or future."""
    unknown = [n for n in names if n not in FAMILIES and n not in KINDS]
    if unknown:
        raise ValueError(f"{unknown} name neither a family {FAMILIES} nor a registered kind {list(KINDS)}")
    return tuple(name for name, kind in KINDS.items() if name in names or kind.family in names)


def method_keys(name: str) -> tuple[str, str]:
    """The ``methods:`` keys whose settings apply to a kind, weakest first: its family, then itself."""
    return get(name).family, name


def check_methods(methods: Mapping[str, Any], where: str) -> None:
    """Every key of a ``methods:`` mapping must name a registered kind or a family."""
    for key in methods:
        if key not in KINDS and key not in FAMILIES:
            raise ConfigError(
                f"{where}: 'methods.{key}' names no feedback kind (registered: {list(KINDS)}) and no family {FAMILIES}"
            )
