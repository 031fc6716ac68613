"""t-SNE map of a trained network's hidden activations, coloured by class (the paper's Figure 2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.manifold import TSNE
from torch import Tensor

from graphs.config import TsneConfig


def tsne_figure(hidden: Tensor, labels: Tensor, cfg: TsneConfig, seed: int, title: str, out: Path) -> Path:
    """Embed ``hidden`` (N, d) in 2-D with sklearn's Barnes-Hut t-SNE and save a scatter plot to ``out``."""
    points = TSNE(
        n_components=2,
        perplexity=cfg.perplexity,
        learning_rate=cfg.learning_rate,
        max_iter=cfg.iterations,
        init="pca",
        random_state=seed,
    ).fit_transform(hidden.double().numpy())
    fig, ax = plt.subplots(figsize=(5, 5))
    colors = plt.get_cmap("tab10")(np.asarray(labels) % 10)
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=4, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out
