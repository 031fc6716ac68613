"""The two graph tasks: what a training step minimises and what an evaluation measures.

* :class:`NodeClassification` — semi-supervised node classification (Table 3): cross-entropy on the
  labelled training nodes of the whole graph (full batch), accuracy on the train/val/test nodes; for
  binary labels (e.g. tolokers, questions) ROC AUC as well, which then selects and is reported first.
* :class:`LinkPrediction` — the (non-probabilistic) graph auto-encoder of Kipf & Welling, "Variational
  Graph Auto-Encoders" (NeurIPS-W 2016), Table 4: the encoder embeds nodes from the training edges,
  an inner product scores a pair, the loss is binary cross-entropy on the training edges and as many
  freshly sampled non-edges; ROC AUC and average precision on held-out edges and non-edges.

Both expose ``d_in``, ``d_out``, ``loss(model)``, ``evaluate(model)``, the validation metric that
selects the reported epoch (``select``) and the metrics reported (``reported``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from common.paths import DataError
from graphs.data import EdgeSplit, pair_codes, sample_non_edges
from graphs.features import SparseFeatures


class NodeClassification:
    """Full-batch node classification; unlabeled nodes never enter the loss (their error is zero)."""

    select = "val/acc"
    reported = ("test/acc", "val/acc", "train/acc")

    def __init__(self, data: Data, masks: tuple[Tensor, Tensor, Tensor], log_probs: bool, device: torch.device) -> None:
        data = data.to(device)
        self.x = SparseFeatures.from_dense(data.x)
        self.edge_index, self.edge_attr, self.y = data.edge_index, data.edge_attr, data.y
        self.masks = {name: m.to(device) for name, m in zip(("train", "val", "test"), masks, strict=True)}
        self.log_probs = log_probs
        self.d_in, self.d_out = data.num_features, int(data.y.max()) + 1
        if self.d_out == 2:  # accuracy says little when one class dominates: rank by ROC AUC
            self.select = "val/auc"
            self.reported = ("test/auc", "val/auc", "train/auc", *self.reported)
            for name, m in self.masks.items():
                if len(torch.unique(self.y[m])) < 2:
                    raise DataError(f"the {name} nodes hold one class only: their ROC AUC is undefined")

    def loss(self, model: nn.Module) -> Tensor:
        out = model(self.x, self.edge_index, self.edge_attr)  # (N, classes)
        train = self.masks["train"]
        if self.log_probs:  # the model already returns log-probabilities
            return F.nll_loss(out[train], self.y[train])
        return F.cross_entropy(out[train], self.y[train])

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        out = model(self.x, self.edge_index, self.edge_attr)
        pred = out.argmax(-1)
        metrics = {f"{name}/acc": (pred[m] == self.y[m]).double().mean().item() for name, m in self.masks.items()}
        if self.d_out == 2:
            from sklearn.metrics import roc_auc_score  # lazy: ~0.5 s of start-up otherwise

            score = (out[:, 1] - out[:, 0]).double().cpu()  # monotone in p(class 1), for logits and log-probs
            y = self.y.cpu()
            for name, m in self.masks.items():
                m = m.cpu()
                metrics[f"{name}/auc"] = float(roc_auc_score(y[m].numpy(), score[m].numpy()))
        return metrics

    @torch.no_grad()
    def hidden(self, model: nn.Module) -> tuple[Tensor, Tensor]:
        """Hidden activations of every node (eval mode) and the node labels, for the t-SNE figure."""
        model.eval()
        return model.hidden(self.x, self.edge_index, self.edge_attr).cpu(), self.y.cpu()


class LinkPrediction:
    """Graph auto-encoder: inner-product decoder, fresh negatives at every step."""

    select = "val/auc"
    reported = ("test/auc", "test/ap", "val/auc", "val/ap")

    def __init__(self, data: Data, edges: EdgeSplit, embedding: int, device: torch.device) -> None:
        self.x, self.edges, self.num_nodes = (
            SparseFeatures.from_dense(data.x.to(device)),
            edges.to(device),
            data.num_nodes,
        )
        self.taken = pair_codes(edges.train, self.num_nodes)  # training negatives avoid training edges
        self.d_in, self.d_out = data.num_features, embedding

    def loss(self, model: nn.Module) -> Tensor:
        z = model(self.x, self.edges.train)  # (N, embedding)
        pos = self.edges.train
        neg = sample_non_edges(self.taken, self.num_nodes, pos.shape[1])
        return -F.logsigmoid(score(z, pos)).mean() - F.logsigmoid(-score(z, neg)).mean()

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        from sklearn.metrics import average_precision_score, roc_auc_score  # lazy: ~0.5 s of start-up otherwise

        model.eval()
        z = model(self.x, self.edges.train)
        metrics = {}
        for name, pos, neg in (
            ("val", self.edges.val, self.edges.val_neg),
            ("test", self.edges.test, self.edges.test_neg),
        ):
            labels = torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])]).numpy()
            scores = torch.cat([score(z, pos), score(z, neg)]).sigmoid().cpu().numpy()
            metrics[f"{name}/auc"] = float(roc_auc_score(labels, scores))
            metrics[f"{name}/ap"] = float(average_precision_score(labels, scores))
        return metrics


def score(z: Tensor, pairs: Tensor) -> Tensor:
    """Inner-product decoder logits z_i · z_j of node pairs (2, n) -> (n,)."""
    return (z[pairs[0]] * z[pairs[1]]).sum(-1)
