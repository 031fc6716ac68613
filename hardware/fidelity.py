"""Fidelity of the emulated OPU: the recovered projection against the ideal one, versus the camera's bits,
shot noise, read noise and the ternarization threshold.

    python -m hardware.fidelity --config hardware/configs/fidelity.yaml --out results/hardware [key=value ...]

For each error model and each value of one swept parameter (the others at the base setting: 8 bits, no
noise), ``vectors`` error vectors go through an :class:`~hardware.optical.OpticalProjector` and each result
is compared with

* ``cos_ternary`` — the ideal linear projection ``α t @ M`` of the ternarized input: the device's own
  fidelity (camera, quantization, noise); the acceptance target is ≥ 0.95 at 8 bits without noise;
* ``cos_error`` — ``e @ M``, the same matrix applied to the real-valued error: what DFA loses to the
  device *and* to ternarization.

Writes ``fidelity.json`` (config, base point, every curve as mean and std over vectors) and
``fidelity.png`` into ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor

from common.config import load_config, to_dict
from common.run import atomic_write_text, cli, parse_args
from common.seeding import seed_everything
from hardware.config import FidelityConfig, OpticalConfig
from hardware.optical import OpticalProjector, ternarize

SWEPT = ("bits", "full_well", "read_noise", "threshold")


def error_vectors(kind: str, n: int, d: int, logit_std: float, gen: torch.Generator) -> Tensor:
    """``(n, d)`` errors: i.i.d. normal, or cross-entropy errors softmax(z) − onehot(y)."""
    if kind == "gaussian":
        return torch.randn(n, d, generator=gen)
    logits = torch.randn(n, d, generator=gen) * logit_std
    labels = torch.randint(d, (n,), generator=gen)
    return logits.softmax(dim=1) - F.one_hot(labels, d).float()


def setting(base: OpticalConfig, param: str, value: float) -> OpticalConfig:
    """The base setting with one parameter changed (noise sources switched on where swept)."""
    cam = base.camera
    if param == "threshold":
        return dataclasses.replace(base, threshold=float(value))
    if param == "bits":
        cam = dataclasses.replace(cam, bits=int(value))
    elif param == "full_well":
        cam = dataclasses.replace(cam, full_well=float(value), shot_noise=True)
    elif param == "read_noise":
        cam = dataclasses.replace(cam, read_noise=float(value))
    else:
        raise ValueError(f"unknown swept parameter {param!r} (known: {SWEPT})")
    return dataclasses.replace(base, camera=cam)


def measure(cfg: FidelityConfig, optical: OpticalConfig, errors: Tensor) -> dict[str, float]:
    """Mean and std over vectors of both cosines for one device setting."""
    projector = OpticalProjector(cfg.d_err, (cfg.width,), "shared", optical, seed=cfg.seed, entry_std=1.0)
    matrix = projector.effective_matrix()
    torch.manual_seed(cfg.seed + 2)  # the camera noise
    recovered = projector(errors)
    t, alpha = ternarize(errors, optical.threshold)
    ideal, linear = alpha * (t @ matrix), errors @ matrix
    keep = t.abs().sum(dim=1) > 0
    out = {}
    for name, reference in (("cos_ternary", ideal), ("cos_error", linear)):
        cos = F.cosine_similarity(recovered[keep], reference[keep], dim=1)
        out[name], out[f"{name}_std"] = round(cos.mean().item(), 6), round(cos.std().item(), 6)
    out["kept_fraction"] = round(t.abs().mean().item(), 6)
    return out


def sweep(cfg: FidelityConfig) -> dict[str, Any]:
    """Every curve of the sweep, for every error model."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    errors = {k: error_vectors(k, cfg.vectors, cfg.d_err, cfg.logit_std, gen) for k in cfg.errors}
    record: dict[str, Any] = {"base": {k: measure(cfg, cfg.optical, e) for k, e in errors.items()}, "sweeps": {}}
    for param in SWEPT:
        values = getattr(cfg.sweep, param)
        curves = {k: [measure(cfg, setting(cfg.optical, param, v), e) for v in values] for k, e in errors.items()}
        record["sweeps"][param] = {"values": list(values), "curves": curves}
    return record


def plot(record: dict[str, Any], out: Path) -> Path:
    """Four panels: cosine versus bits, full well, read noise and threshold."""
    labels = {
        "bits": "camera bits (rightmost: ideal detector)",
        "full_well": "photo-electrons at saturation (shot noise on)",
        "read_noise": "read noise (e⁻ RMS)",
        "threshold": "ternarization threshold (× max |e|)",
    }
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, param in zip(axes.flat, SWEPT, strict=True):
        entry = record["sweeps"][param]
        values = entry["values"]
        xs = list(range(len(values))) if param == "bits" else values
        for kind, points in entry["curves"].items():
            for key, style in (("cos_ternary", "-o"), ("cos_error", "--s")):
                what = "vs α t M" if key == "cos_ternary" else "vs e M"
                ax.plot(xs, [p[key] for p in points], style, ms=3, label=f"{kind}: {what}")
        if param == "bits":
            ax.set_xticks(xs, [str(v) if v else "ideal" for v in values])
        elif param in ("full_well", "read_noise"):
            if 0 in values:
                ax.set_xscale("symlog", linthresh=10)
            else:
                ax.set_xscale("log")
        ax.set_xlabel(labels[param])
        ax.set_ylabel("cosine")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Recovered optical projection vs the ideal linear projection")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv, __doc__.splitlines()[0])
    cfg = load_config(FidelityConfig, args.config, args.overrides)
    seed_everything(cfg.seed, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"profile": args.profile, "config": to_dict(cfg), **sweep(cfg)}
    atomic_write_text(args.out / "fidelity.json", json.dumps(record, indent=2) + "\n")
    plot(record, args.out / "fidelity.png")
    for kind, base in record["base"].items():
        print(f"[hardware] {kind} errors, base setting: {base}")
    return record


if __name__ == "__main__":
    cli(main)
