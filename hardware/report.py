"""The report's hardware section beyond the claims: the emulator's fidelity and the device's cost model.

Called by :mod:`common.report` as ``sections(ctx)``; renders ``results/hardware/fidelity.json`` (with its
figure) and ``results/hardware/cost.json``. The fidelity target comes from ``hardware/claims.yaml``
(``fidelity``). Nothing is computed here beyond formatting and the target's verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from common.paths import ROOT

if TYPE_CHECKING:
    from common.report import DomainContext

MET, NOT_MET = "met", "not met"


def sections(ctx: DomainContext) -> list[str]:
    """Markdown: fidelity (target, sweeps, figure), then the cost table."""
    folder = ctx.report_dir / "hardware"
    target = (yaml.safe_load((ROOT / "hardware" / "claims.yaml").read_text()) or {}).get("fidelity", {})
    return [fidelity_section(folder / "fidelity.json", target, ctx), cost_section(folder / "cost.json", ctx)]


def _origin(record: dict[str, Any], path: Path, ctx: DomainContext) -> str:
    profile = record.get("profile", "?")
    note = "" if profile == ctx.profile else f" — **from profile `{profile}`, not `{ctx.profile}`**"
    return f"*Source: `{ctx.rel(path)}`{note}.*"


def fidelity_verdict(record: dict[str, Any], target: dict[str, Any]) -> tuple[str, str]:
    """Verdict and evidence of the fidelity target on the sweep's base setting."""
    camera = record["config"]["optical"]["camera"]
    base_ok = camera["bits"] == target["bits"] and not camera["shot_noise"] and camera["read_noise"] == 0
    if not base_ok:
        return "not run: the sweep's base setting is not the target's (8 bits, no noise)", "—"
    cosines = {kind: point["cos_ternary"] for kind, point in record["base"].items()}
    holds = all(c >= target["min_cosine"] for c in cosines.values())
    evidence = ", ".join(f"{kind} errors {c:.4f}" for kind, c in cosines.items())
    return (MET if holds else NOT_MET), f"{'✓' if holds else '✗'} min ≥ {target['min_cosine']}: {evidence}"


def fidelity_section(path: Path, target: dict[str, Any], ctx: DomainContext) -> str:
    lines = ["### Fidelity of the emulated OPU", ""]
    if not path.exists():
        return "\n".join([*lines, f"*Not run: `{ctx.rel(path)}` is missing (rule `hardware_fidelity`).*", ""])
    record = json.loads(path.read_text())
    cfg = record["config"]
    lines += [
        f"{cfg['vectors']} error vectors per point, {cfg['d_err']} → {cfg['width']}; cosine per vector (mean) of the "
        "recovered projection with the ideal linear projection `α t M` of the ternarized error (device fidelity) "
        "and with `e M` (device and ternarization). Base: 8-bit camera, no noise, threshold "
        f"{cfg['optical']['threshold']}; each table changes one parameter.",
        "",
        _origin(record, path, ctx),
        "",
    ]
    if target:
        verdict, evidence = fidelity_verdict(record, target)
        lines += ["| target | source | verdict | evidence (ours) |", "|---|---|---|---|"]
        lines += [f"| {target['text']} | {target.get('cite', '')} | **{verdict}** | {evidence} |", ""]
    for param, entry in record["sweeps"].items():
        values = ["ideal" if param == "bits" and v == 0 else f"{v:g}" for v in entry["values"]]
        lines += [f"| {param} | {' | '.join(values)} |", "|---" * (len(values) + 1) + "|"]
        for kind, points in entry["curves"].items():
            for key, label in (("cos_ternary", "vs α t M"), ("cos_error", "vs e M")):
                lines.append(f"| {kind} {label} | " + " | ".join(f"{p[key]:.4f}" for p in points) + " |")
        lines.append("")
    figure = path.with_name("fidelity.png")
    if figure.exists():
        lines += [f"![Fidelity of the recovered projection]({ctx.rel(figure)})", ""]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "not measured"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1e3:.3g} ms" if value >= 1e-3 else f"{value * 1e6:.3g} µs"


def cost_section(path: Path, ctx: DomainContext) -> str:
    lines = ["### Cost model: one training step's projection, optical device vs digital", ""]
    if not path.exists():
        return "\n".join([*lines, f"*Not run: `{ctx.rel(path)}` is missing (rule `hardware_cost`).*", ""])
    record = json.loads(path.read_text())
    dev, cpu, gpu = record["device"], record["cpu"], record["gpu"]
    load = record["load_average"]
    lines += [
        f"Device: {dev['name']} — {dev['frame_rate']:g} frames/s, {dev['input_mirrors']:,} mirrors, "
        f"{dev['output_pixels']:,} camera pixels, {dev['power_w']:g} W; {record['frames_per_vector']} frames per "
        "error vector. Digital: the same product `(N, d) @ (d, width)` in float32, median wall time measured on "
        f"{cpu['name']} (the faster of 1 and {cpu['threads']} threads; energy at an assumed {cpu['power_w']:g} W)"
        + (f" and {gpu['name']} (assumed {gpu['power_w']:g} W)" if gpu else "; GPU: not measured (none present)")
        + f". Load average during the CPU timings: {load['before'][0]:.1f} → {load['after'][0]:.1f} "
        "(timings on a shared machine are inflated). Break-even: the d · width above which the device would beat "
        "that digital rate.",
        "",
        _origin(record, path, ctx),
        "",
        "| workload | vectors/step | d → width | frames | device time | device energy | CPU time (median) | CPU energy "
        "| GPU time | device / CPU | break-even d·width (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["rows"]:
        ratio = r["device_s"] / r["cpu_s"]
        lines.append(
            f"| {r['name']} | {r['vectors']:,} | {r['d_err']} → {r['width']:,} | {r['frames']:,} "
            f"| {_seconds(r['device_s'])} | {r['device_j']:.3g} J "
            f"| {_seconds(r['cpu_s'])} (min {_seconds(r['cpu_min_s'])}) | {r['cpu_j']:.3g} J "
            f"| {_seconds(r['gpu_s'])} | {ratio:.3g}× | {r['cpu_breakeven']:.3g} |"
        )
    return "\n".join([*lines, ""])
