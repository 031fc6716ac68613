"""Small metric helpers shared by the domains."""

from __future__ import annotations

from typing import Any


class BestTracker:
    """Keeps the metrics of the evaluation with the best validation score (model selection).

    ``update`` returns True when the new score is the best so far. It has ``state_dict`` /
    ``load_state_dict`` so that a resumed run keeps its selection.
    """

    def __init__(self, higher_is_better: bool = True) -> None:
        self.higher_is_better = higher_is_better
        self.best: float | None = None
        self.metrics: dict[str, Any] = {}
        self.step: int | None = None

    def update(self, score: float, step: int, metrics: dict[str, Any]) -> bool:
        better = self.best is None or (score > self.best if self.higher_is_better else score < self.best)
        if better:
            self.best, self.step, self.metrics = score, step, dict(metrics)
        return better

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "step": self.step, "metrics": self.metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.step, self.metrics = state["best"], state["step"], dict(state["metrics"])


def accuracy(logits: Any, labels: Any) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return int((logits.argmax(-1) == labels).sum()) / labels.numel()
