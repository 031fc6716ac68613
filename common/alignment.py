"""Alignment between DFA and backpropagation (the paper's appendix A).

For one batch, :func:`measure_alignment` runs the same forward pass twice under the same random state
(same dropout masks): once without cutting the graph, to get the true BP gradient at every feedback
point and on every weight, and once as DFA, to get the DFA weight updates. It reports, per point ``l``:

* ``align/cos/p{l}`` — the mean over samples of the cosine between the DFA signal ``B_l e`` and the BP
  gradient ``dL/dh_l`` (samples where either is zero, e.g. unlabeled graph nodes, are skipped);
* ``align/angle/p{l}`` — the angle in degrees between the DFA and the BP update of the weights that
  feed point ``l`` (found by autograd: those reached from the point when the graph is cut).

Nothing is accumulated into ``.grad``: the measurement is invisible to training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from common.feedback import Feedback


def due(every: int, index: int) -> bool:
    """Whether alignment is measured at ``index`` (an epoch, step or evaluation of the domain's loop): at every
    ``every``-th one, never when ``every`` is 0. Every domain's ``feedback.align_every`` means this."""
    return every > 0 and index % every == 0


def measure_alignment(
    fb: Feedback, params: Iterable[nn.Parameter], loss_fn: Callable[[], Tensor], seed: int = 0
) -> dict[str, float]:
    """Alignment of ``fb``'s DFA signals with BP on the batch that ``loss_fn`` evaluates.

    Args:
        fb: the network's feedback module (kind dfa or optical).
        params: the network's parameters.
        loss_fn: runs the forward pass and returns the loss (no backward).
        seed: seeds both passes identically so that stochastic layers draw the same masks.
    """
    if fb.projector is None:
        raise ValueError(f"alignment is defined for dfa and optical feedback, not {fb.kind!r}")
    params = [p for p in params if p.requires_grad]
    fb.reset()
    with torch.random.fork_rng(devices=_devices(params)):
        torch.manual_seed(seed)
        with fb.probing():
            loss = loss_fn()
        (tape,) = _single_tape(fb)
        outs = torch.autograd.grad(loss, [tape.output, *tape.points, *params], allow_unused=True)
    e, bp_points, bp_params = outs[0], outs[1 : 1 + len(tape.points)], outs[1 + len(tape.points) :]
    with torch.random.fork_rng(devices=_devices(params)):  # a noisy (optical) projector must not shift training's RNG
        signals = fb.signals(e.detach())

    with torch.random.fork_rng(devices=_devices(params)):
        torch.manual_seed(seed)
        loss_fn()
    (dfa_tape,) = _single_tape(fb)

    metrics: dict[str, float] = {}
    for index, (h, s, g) in enumerate(zip(dfa_tape.points, signals, bp_points, strict=True)):
        metrics[f"align/cos/p{index}"] = _mean_row_cosine(s, g.reshape(s.shape))
        dfa_w = torch.autograd.grad(h, params, grad_outputs=s.reshape(h.shape), allow_unused=True, retain_graph=True)
        pairs = [(d, b) for d, b in zip(dfa_w, bp_params, strict=True) if d is not None and b is not None]
        if pairs:
            dfa_flat = torch.cat([d.flatten() for d, _ in pairs])
            bp_flat = torch.cat([b.flatten() for _, b in pairs])
            cos = torch.nn.functional.cosine_similarity(dfa_flat, bp_flat, dim=0).clamp(-1, 1)
            metrics[f"align/angle/p{index}"] = math.degrees(math.acos(cos.item()))
    return metrics


def _single_tape(fb: Feedback) -> list:
    tapes = fb.take_tapes()
    if len(tapes) != 1:
        raise RuntimeError(f"alignment expects loss_fn to run the network once, it ran {len(tapes)} times")
    return tapes


def _mean_row_cosine(a: Tensor, b: Tensor) -> float:
    a, b = a.reshape(a.shape[0], -1).float(), b.reshape(b.shape[0], -1).float()
    keep = (a.norm(dim=1) > 0) & (b.norm(dim=1) > 0)
    if not keep.any():
        return float("nan")
    return torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=1).mean().item()


def _devices(params: list[nn.Parameter]) -> list[torch.device]:
    return sorted({p.device for p in params if p.device.type == "cuda"}, key=str)
