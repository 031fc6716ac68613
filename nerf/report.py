"""NeRF's extra report sections: test views side by side (each method | ground truth, with depth maps) and the
turntables of novel views, from the pictures the runs saved (first seed of each method)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image

from common.report import DomainContext

METHOD_ORDER = ("bp", "dfa", "optical", "shallow")
VIEWS = 3  # test views shown per experiment


def sections(ctx: DomainContext) -> list[str]:
    parts = []
    for exp in sorted({e for e, _ in ctx.run_dirs}):
        runs = {m: ctx.run_dirs[(exp, m)][0] for m in METHOD_ORDER if (exp, m) in ctx.run_dirs}
        runs = {m: d for m, d in runs.items() if (d / "renders").is_dir()}
        if not runs:
            continue
        lines = [f"#### Renders: {exp}", ""]
        grid = side_by_side(exp, runs, ctx.fig_dir / f"nerf_{exp}_renders.png")
        if grid is not None:
            lines += [
                f"![{exp}: held-out test views]({ctx.rel(grid)})",
                "",
                f"*{exp}: held-out test views, each method beside the ground truth; last row: depth of the first "
                "view (red near, blue far). Titles give the run's mean test PSNR.*",
                "",
            ]
        gifs = {}
        for method, run_dir in runs.items():
            if (run_dir / "turntable.gif").exists():
                gifs[method] = ctx.fig_dir / f"nerf_{exp}_{method}_turntable.gif"
                shutil.copyfile(run_dir / "turntable.gif", gifs[method])
        if gifs:
            lines += [
                "| " + " | ".join(gifs) + " |",
                "|" + "---|" * len(gifs),
                "| " + " | ".join(f"![{m}]({ctx.rel(p)})" for m, p in gifs.items()) + " |",
                "",
                f"*{exp}: novel views on a turntable (colour | depth).*",
                "",
            ]
        parts.append("\n".join(lines))
    return parts


def side_by_side(exp: str, runs: dict[str, Path], out: Path) -> Path | None:
    """A grid: one row per test view (and a depth row), one column per method, then the ground truth."""
    first = next(iter(runs.values())) / "renders"
    views = sorted(p.name.removeprefix("gt_") for p in first.glob("gt_*.png"))[:VIEWS]
    if not views:
        return None
    columns = [*runs, "ground truth"]
    fig, axes = plt.subplots(
        len(views) + 1, len(columns), figsize=(2.4 * len(columns), 2.4 * (len(views) + 1)), squeeze=False
    )
    for col, name in enumerate(columns):
        if name == "ground truth":
            title, folder, prefix = name, first, "gt_"
        else:
            psnr = json.loads((runs[name] / "final.json").read_text())["metrics"].get("test/psnr")
            shown = "diverged" if psnr is None else f"{psnr:.2f} dB"
            title, folder, prefix = f"{name} ({shown})", runs[name] / "renders", "test_"
        axes[0, col].set_title(title, fontsize=9)
        for row, view in enumerate(views):
            show(axes[row, col], folder / f"{prefix}{view}")
        show(axes[-1, col], None if name == "ground truth" else folder / f"depth_{views[0]}")
    fig.suptitle(exp, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def show(ax, path: Path | None) -> None:
    ax.axis("off")
    if path is not None and path.exists():
        with Image.open(path) as im:
            ax.imshow(im.convert("RGB"))
