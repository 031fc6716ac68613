"""Signs that a NeRF run failed without diverging: a constant render, an alignment that is no longer defined.

A NeRF whose ReLUs all die early renders the background everywhere: the loss stays finite, the PSNR is
exactly that of a blank image, and with no gradient left at the feedback points the DFA/BP alignment is
0/0. Both happen on small objects in a large frame when the first steps see mostly background; sampling
the centre of the views first (``train.precrop_iters``, ``train.precrop_frac``) avoids it. These checks
say so in the log and in ``final.json['warnings']`` rather than leave a number that looks like a result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

COLLAPSE_RATIO = 0.05
"""A render is constant when its pixels vary less than this fraction of the ground truth's (standard deviations)."""
UNDEFINED = "align/undefined"
"""metrics.jsonl key: how many alignment values of that step were not finite (left out of the line)."""
PRECROP_HINT = "train.precrop_iters=500 train.precrop_frac=0.5"


def finite_alignment(metrics: dict[str, float]) -> dict[str, float]:
    """The finite alignment values; non-finite ones are left out and counted under :data:`UNDEFINED`.

    A NaN here is not a diverged run (the loss is fine): it is a network with no gradient left at a
    feedback point, which :func:`warnings` reports at the end.
    """
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
    if len(finite) < len(metrics):
        finite[UNDEFINED] = len(metrics) - len(finite)
    return finite


def warnings(final: dict[str, float], records: Iterable[dict[str, Any]]) -> list[str]:
    """What a reader of ``final.json`` must know: a collapsed render, steps whose alignment was undefined."""
    found = []
    render, truth = final.get("test/render_std"), final.get("test/truth_std")
    if render is not None and truth and render < COLLAPSE_RATIO * truth:
        found.append(
            f"collapsed render: the test views are constant (pixel std {render:.4f}, ground truth {truth:.4f}), "
            f"so test/psnr is that of a blank image. For a small object in a large frame, train on the centre "
            f"first: {PRECROP_HINT}"
        )
    steps = [r["step"] for r in records if r.get(UNDEFINED)]
    if steps:
        found.append(
            f"alignment undefined (no BP gradient at a feedback point: dead ReLUs) at {len(steps)} "
            f"measurement(s), steps {steps[0]}..{steps[-1]}; those values are left out of metrics.jsonl"
        )
    return found
