"""The graph networks of the paper's Table 3 (and the GAE encoder of Table 4), in one registry.

Every model maps node features (N, d_in; dense, or :class:`graphs.features.SparseFeatures`), edges (2, E)
and optional edge pseudo-coordinates to an output (N, d_out): class logits, or the GAE's node embeddings z.
Each has one :class:`common.feedback.Feedback`, ``fb``: a feedback point after every hidden activation, the
output marked where the error is read.
Under DFA the error is dNLL/dlogits per node, zero for unlabeled nodes (they are not in the loss).

* ``cheb`` — Defferrard, Bresson & Vandergheynst, "Convolutional Neural Networks on Graphs with Fast
  Localized Spectral Filtering", NeurIPS 2016.
* ``gcn`` — Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR 2017
  (the paper's "GraphConv"); with 32 → 16 channels and no dropout, the encoder of Kipf & Welling's
  "Variational Graph Auto-Encoders" (NeurIPS-W 2016, non-probabilistic GAE).
* ``spline`` — Fey, Lenssen, Weichert & Müller, "SplineCNN", CVPR 2018 (:class:`graphs.layers.SplineConv`).
* ``gat`` — Veličković et al., "Graph Attention Networks", ICLR 2018.
* ``dna`` — Fey, "Just Jump: Dynamic Neighborhood Aggregation in Graph Neural Networks", ICLR-W 2019.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv

from common.feedback import Feedback, FeedbackConfig
from graphs.config import ModelConfig
from graphs.features import SparseFeatures, dropout, project
from graphs.layers import ChebConv, DNAConv, InputProjected, SplineConv

ACTIVATIONS = {"relu": F.relu, "elu": F.elu}


class GraphNet(nn.Module):
    """What every model shares: activation, dropouts, the feedback module and the output marker."""

    def __init__(self, cfg: ModelConfig, d_out: int, dims: tuple[int, ...], feedback: FeedbackConfig, seed: int):
        super().__init__()
        self.act = ACTIVATIONS[cfg.activation]
        self.input_dropout, self.dropout = cfg.input_dropout, cfg.dropout
        self.log_probs = cfg.error_at == "log_probs"
        self.fb = Feedback(feedback, d_err=d_out, dims=dims, seed=seed)

    def output(self, y: Tensor) -> Tensor:  # (N, d_out): logits, log-probabilities or embeddings
        return self.fb.output(F.log_softmax(y, dim=-1) if self.log_probs else y)


class TwoLayerNet(GraphNet):
    """x → dropout → conv1 → act → point → dropout → conv2 → output; one feedback point of width ``width``."""

    def __init__(
        self,
        conv1: nn.Module,
        conv2: nn.Module,
        width: int,
        d_out: int,
        cfg: ModelConfig,
        fb: FeedbackConfig,
        seed: int,
    ):
        super().__init__(cfg, d_out, (width,), fb, seed)
        self.conv1, self.conv2 = conv1, conv2

    def hidden(self, x: Tensor | SparseFeatures, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        """The first layer's activations (N, width), where the feedback point sits (t-SNE of Figure 2)."""
        x = dropout(x, self.input_dropout, self.training)
        return self.act(self.conv1(x, edge_index, edge_attr))

    def forward(self, x: Tensor | SparseFeatures, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        h = self.fb.point(self.hidden(x, edge_index, edge_attr))  # (N, width)
        h = dropout(h, self.dropout, self.training)
        return self.output(self.conv2(h, edge_index, edge_attr))  # (N, d_out)


class ChebNet(TwoLayerNet):
    """Two ChebConv layers (Chebyshev filters of order K) — Defferrard et al., NeurIPS 2016."""

    def __init__(self, d_in: int, d_out: int, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        conv1 = ChebConv(d_in, cfg.hidden, K=cfg.cheb_k)
        conv2 = ChebConv(cfg.hidden, d_out, K=cfg.cheb_k)
        super().__init__(conv1, conv2, cfg.hidden, d_out, cfg, feedback, seed)


class GCN(TwoLayerNet):
    """Two GCNConv layers (normalised adjacency with self-loops, cached) — Kipf & Welling, ICLR 2017."""

    def __init__(self, d_in: int, d_out: int, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        conv1 = InputProjected(GCNConv(d_in, cfg.hidden, cached=True))
        conv2 = GCNConv(cfg.hidden, d_out, cached=True)
        super().__init__(conv1, conv2, cfg.hidden, d_out, cfg, feedback, seed)


class SplineNet(TwoLayerNet):
    """Two SplineConv layers on 1-D pseudo-coordinates (mean aggregation, root weight) — Fey et al., CVPR 2018."""

    def __init__(self, d_in: int, d_out: int, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        def conv(c_in: int, c_out: int) -> SplineConv:
            return SplineConv(c_in, c_out, dim=1, kernel_size=cfg.kernel_size, degree=cfg.spline_degree,
                              backend=cfg.spline_backend)  # fmt: skip

        super().__init__(conv(d_in, cfg.hidden), conv(cfg.hidden, d_out), cfg.hidden, d_out, cfg, feedback, seed)


class GAT(TwoLayerNet):
    """GATConv with ``heads`` × ``hidden`` concatenated, then ``out_heads`` averaged — Veličković et al., ICLR 2018."""

    def __init__(self, d_in: int, d_out: int, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        width = cfg.heads * cfg.hidden
        conv1 = InputProjected(GATConv(d_in, cfg.hidden, heads=cfg.heads, dropout=cfg.attention_dropout))
        conv2 = GATConv(width, d_out, heads=cfg.out_heads, concat=False, dropout=cfg.out_attention_dropout)
        super().__init__(conv1, conv2, width, d_out, cfg, feedback, seed)


class DNANet(GraphNet):
    """Linear → act → [DNAConv over all earlier layers → act] × layers → Linear — Fey, ICLR-W 2019.

    A feedback point follows the input layer and every DNAConv: under DFA each layer learns from its own
    projection of the error, and the layer history that later layers attend to is detached.
    """

    def __init__(self, d_in: int, d_out: int, cfg: ModelConfig, feedback: FeedbackConfig, seed: int = 0):
        super().__init__(cfg, d_out, (cfg.hidden,) * (cfg.layers + 1), feedback, seed)
        self.lin1 = nn.Linear(d_in, cfg.hidden)
        self.convs = nn.ModuleList(
            DNAConv(cfg.hidden, heads=cfg.heads, groups=cfg.groups, dropout=cfg.attention_dropout, cached=True)
            for _ in range(cfg.layers)
        )
        self.lin2 = nn.Linear(cfg.hidden, d_out)

    def forward(self, x: Tensor | SparseFeatures, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        x = dropout(x, self.input_dropout, self.training)
        h = self.fb.point(self.act(project(x, self.lin1.weight) + self.lin1.bias))  # (N, C)
        h = dropout(h, self.dropout, self.training)
        history = [h]
        for conv in self.convs:
            h = self.fb.point(self.act(conv(torch.stack(history, dim=1), edge_index)))  # (N, L, C) -> (N, C)
            history.append(h)
        h = dropout(h, self.dropout, self.training)
        return self.output(self.lin2(h))  # (N, d_out)


MODELS = {"cheb": ChebNet, "gcn": GCN, "spline": SplineNet, "gat": GAT, "dna": DNANet}
