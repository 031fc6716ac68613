"""Strict, typed configuration: frozen dataclass trees filled from YAML and dotted CLI overrides.

A domain declares its whole configuration as nested frozen dataclasses with defaults. A YAML file holds
only what differs from those defaults; ``key.sub=value`` overrides (values parsed as YAML) come last.
Unknown keys and wrong types raise :class:`ConfigError` naming the dotted key, so a typo never runs
silently with a default. Ranges are part of the type: a field declared ``epochs: PositiveInt`` (an
``Annotated[int, Range(low=1)]``) rejects ``epochs=0`` with an error naming the key and the allowed range,
so an impossible setting never trains nothing and reports success.

A YAML file may carry two reserved top-level keys. ``base: other.yaml`` names a file it extends, so an
experiment holds only what differs from its sibling (:mod:`common.config_files`). ``methods`` maps a
``feedback.kind``, or a kind's family (``chain``, ``direct``, ``frozen``; :mod:`common.kinds`), to the
overrides for that method. The authors tuned BP and DFA separately (e.g. less dropout under DFA); this keeps
both settings in one experiment file, and every direct kind (optical, dfa_ternary) takes DFA's::

    train: {lr: 0.01, dropout: 0.5}
    methods:
      direct: {train: {dropout: 0.1}}

Precedence: dataclass defaults < the file (over its bases) < ``methods[family]`` < ``methods[kind]`` < CLI
overrides.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")

METHODS_KEY = "methods"


class ConfigError(ValueError):
    """A configuration key is unknown, mistyped or malformed; the message names the dotted key."""


@dataclass(frozen=True)
class Range:
    """A constraint on a number: ``Annotated[int, Range(low=1)]``. Bounds are inclusive unless ``open``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def check(self, value: float, key: str) -> None:
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and value > self.high
        if below or above:
            raise ConfigError(f"'{key}' must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '≥'} {self.low:g}"
        high = None if self.high is None else f"≤ {self.high:g}"
        return " and ".join(part for part in (low, high) if part)


@dataclass(frozen=True)
class NonEmpty:
    """A constraint on a list: at least one item."""

    def check(self, value: tuple, key: str) -> None:
        if not value:
            raise ConfigError(f"'{key}' must not be empty")


PositiveInt = Annotated[int, Range(low=1)]
"""A count that must be at least 1 (epochs, batch sizes, widths)."""
NonNegativeInt = Annotated[int, Range(low=0)]
"""A count where 0 has a meaning of its own (e.g. "all", "never")."""
PositiveFloat = Annotated[float, Range(low=0, low_open=True)]
"""A strictly positive number."""
NonNegativeFloat = Annotated[float, Range(low=0)]
"""A number ≥ 0 (weight decay, clipping norm; 0 usually means "off")."""
LearningRate = Annotated[float, Range(low=0, high=1e6, low_open=True)]
"""A learning rate: > 0, and ≤ 1e6 (beyond, Adam's step overflows float32 before anything is learnt; up to
it, a run that diverges ends as *diverged*)."""
Fraction = Annotated[float, Range(low=0, high=1)]
"""A probability or fraction in [0, 1] (dropout, split fractions)."""
Widths = Annotated[tuple[PositiveInt, ...], NonEmpty()]
"""Layer widths: at least one, each ≥ 1."""


def load_config(cls: type[T], path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Build ``cls`` from its defaults, an optional YAML file and dotted ``key=value`` overrides.

    The file may extend another (``base: other.yaml``, see :mod:`common.config_files`). Its ``methods:``
    keys name a feedback kind or a kind's family (``chain``, ``direct``, ``frozen``; see
    :mod:`common.kinds`): a run takes its family's settings, then its kind's. Precedence: defaults < the
    file (over its bases) < ``methods[family]`` < ``methods[kind]`` < overrides.
    """
    from common import config_files, kinds  # local: both import ConfigError from this module

    raw = config_files.read(path) if path is not None else {}
    per_method = raw.pop(METHODS_KEY, {}) or {}
    if not isinstance(per_method, dict):
        raise ConfigError(f"{path}: '{METHODS_KEY}' must map a feedback.kind (or a family) to overrides")
    cli = parse_overrides(overrides)
    kind = _lookup(cli, "feedback.kind", _lookup(raw, "feedback.kind", _default_kind(cls)))
    if kind is not None:  # a config with a feedback section: its kind must be registered
        kinds.check_methods(per_method, str(path))
        for key in kinds.method_keys(kind):
            raw = merge(raw, per_method.get(key) or {})
    return from_dict(cls, merge(raw, cli))


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1, 2]"]`` into the nested mapping ``{"a": {"b": 1}, "c": [1, 2]}``."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        try:
            node[leaf] = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override '{item}': the value is not valid YAML ({err.problem})") from None
    return nested


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Instantiate dataclass ``cls`` from ``data`` recursively, checking every key and type."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}' (known keys at this level: {', '.join(sorted(fields))})"
        )
    kwargs = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-serialisable dict of a config tree (tuples become lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:  # a type with constraints: coerce, then check each
        value = _coerce(args[0], value, key)
        for constraint in tp.__metadata__:
            constraint.check(value, key)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key + ".")  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        for arg in arms:
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                if len(arms) == 1:  # X | None: X's own message (e.g. its range) says more
                    raise
        raise ConfigError(f"'{key}': {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{key}' must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"'{key}' must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"'{key}': unsupported type {tp}")


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` key by key at every depth; any value that is not a mapping replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _lookup(data: dict[str, Any], dotted: str, default: Any) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _default_kind(cls: type) -> str | None:
    try:
        return cls().feedback.kind  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return None
