"""Graph layers in plain PyTorch: SplineConv's B-spline kernel, and faster ChebConv and DNAConv.

Every layer applies its input projection with :func:`graphs.features.project`, so that it accepts sparse
node features (:class:`graphs.features.SparseFeatures`); :class:`InputProjected` does the same for PyG's
convolutions.

* :class:`ChebConv` — Defferrard, Bresson & Vandergheynst, "Convolutional Neural Networks on Graphs with
  Fast Localized Spectral Filtering" (NeurIPS 2016). The same parameters and outputs as PyG's
  ``ChebConv``, but the features are projected first and the Chebyshev sum is evaluated with Clenshaw's
  recurrence on the projections: the graph propagates ``out_channels`` columns, not ``in_channels``.
* :class:`SplineConv` — Fey, Lenssen, Weichert & Müller, "SplineCNN: Fast Geometric Deep Learning with
  Continuous B-Spline Kernels" (CVPR 2018). PyG 2.8's ``SplineConv`` needs pyg-lib's compiled
  ``spline_basis``/``spline_weighting``, which are not on PyPI; :func:`spline_basis` and the weighting
  below compute the same thing in PyTorch (tested against a Cox–de Boor evaluation of the basis).
* :class:`DNAConv` — Fey, "Just Jump: Dynamic Neighborhood Aggregation in Graph Neural Networks"
  (ICLR-W 2019). The same parameters and outputs as PyG's ``DNAConv``, but the grouped query/key/value
  projections run once per node instead of once per edge (they commute with the gather), which is
  5× less work on Planetoid graphs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch_geometric.nn
from torch import Tensor, nn
from torch_geometric.nn.conv.dna_conv import restricted_softmax
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.inits import uniform

from graphs.features import SparseFeatures, project

PYG_LIB_HINT = (
    "model.spline_backend=pyg-lib needs pyg-lib>=0.6 with its spline ops "
    "(pip install pyg-lib -f https://data.pyg.org/whl/torch-<torch version>+<cpu|cuXXX>.html); "
    "model.spline_backend=torch uses this repository's pure-PyTorch implementation instead"
)


def _segments(v: Tensor, degree: int) -> Tensor:
    """The degree+1 polynomial pieces of the uniform B-spline at fractional positions ``v`` in [0, 1).

    Returns (..., degree + 1): piece ``k`` is the weight of the basis function ``floor + k``.
    """
    if degree == 1:
        return torch.stack([1 - v, v], -1)
    if degree == 2:
        return torch.stack([0.5 * (1 - v) ** 2, -(v**2) + v + 0.5, 0.5 * v**2], -1)
    if degree == 3:
        return torch.stack(
            [(1 - v) ** 3 / 6, (3 * v**3 - 6 * v**2 + 4) / 6, (-3 * v**3 + 3 * v**2 + 3 * v + 1) / 6, v**3 / 6], -1
        )
    raise ValueError(f"B-spline degree must be 1, 2 or 3, got {degree}")


def spline_basis(pseudo: Tensor, kernel_size: Tensor, is_open_spline: Tensor, degree: int) -> tuple[Tensor, Tensor]:
    """Non-zero B-spline products of each edge and the kernel weights they select.

    Args:
        pseudo: (E, D) pseudo-coordinates in [0, 1].
        kernel_size: (D,) number of basis functions per dimension.
        is_open_spline: (D,) 1 for an open spline (the interval's ends differ), 0 for a closed one.
        degree: the spline degree.

    Returns:
        basis (E, S) and weight_index (E, S), S = (degree + 1) ** D: edge e's kernel is
        ``sum_s basis[e, s] * weight[weight_index[e, s]]`` (pyg-lib's ``spline_basis`` contract).
    """
    n_edges, dim = pseudo.shape
    per_dim = degree + 1
    s = torch.arange(per_dim**dim, device=pseudo.device)
    k_mod = (s[:, None] // per_dim ** torch.arange(dim, device=pseudo.device)) % per_dim  # (S, D)
    v = pseudo * (kernel_size - degree * is_open_spline).to(pseudo.dtype)  # (E, D)
    start = v.floor()
    pieces = _segments(v - start, degree)  # (E, D, degree + 1)
    values = pieces.gather(2, k_mod.T.unsqueeze(0).expand(n_edges, dim, -1))  # (E, D, S)
    index = (start.long().unsqueeze(-1) + k_mod.T) % kernel_size.view(1, dim, 1)  # (E, D, S)
    stride = torch.cumprod(torch.cat([kernel_size.new_ones(1), kernel_size[:-1]]), 0)  # (D,)
    return values.prod(1), (index * stride.view(1, dim, 1)).sum(1)


class SplineConv(nn.Module):
    """x'_i = mean_{j→i} sum_s B_s(u_ji) x_j W_{k(s)} + x_i W_root + b, with u the edge pseudo-coordinates.

    Parameters and initialisation match PyG's ``SplineConv``. The ``torch`` backend multiplies every
    node by the K kernel matrices once, (N, in) → (N, K, out), then mixes the K results per edge with
    the basis: exact, and cheaper than PyG's per-edge weighting when edges outnumber nodes.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dim: int,
        kernel_size: int,
        degree: int = 1,
        is_open_spline: bool = True,
        backend: str = "torch",
    ) -> None:
        super().__init__()
        self.degree, self.backend = degree, backend
        self.register_buffer("kernel_size", torch.full((dim,), kernel_size, dtype=torch.long))
        self.register_buffer("is_open_spline", torch.full((dim,), int(is_open_spline), dtype=torch.long))
        n_kernels = kernel_size**dim
        self.weight = nn.Parameter(torch.empty(n_kernels, in_channels, out_channels))
        self.root = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        uniform(n_kernels * in_channels, self.weight)
        uniform(in_channels, self.root)
        if backend == "pyg-lib":
            self._pyg_ops = pyg_lib_spline_ops()
        elif backend != "torch":
            raise ValueError(f"spline backend must be 'torch' or 'pyg-lib', got {backend!r}")

    def forward(self, x: Tensor | SparseFeatures, edge_index: Tensor, pseudo: Tensor) -> Tensor:  # (N, in) -> (N, out)
        if pseudo is None:
            raise ValueError("SplineConv needs edge pseudo-coordinates (set data.pseudo=target_indegree)")
        src, dst = edge_index
        pseudo = pseudo.view(len(src), -1)
        n_kernels, c_in, c_out = self.weight.shape
        if self.backend == "pyg-lib":
            basis_fn, weighting_fn = self._pyg_ops
            dense = x.to_dense() if isinstance(x, SparseFeatures) else x
            basis, index = basis_fn(pseudo, self.kernel_size, self.is_open_spline.to(torch.uint8), self.degree)
            messages, root = weighting_fn(dense[src], self.weight, basis, index), dense @ self.root
        else:
            basis, index = spline_basis(pseudo, self.kernel_size, self.is_open_spline, self.degree)  # (E, S)
            stacked = torch.cat([self.weight.permute(0, 2, 1).reshape(n_kernels * c_out, c_in), self.root.t()])
            xw = project(x, stacked)  # (N, K·out + out): every kernel matrix and the root weight at once
            root, xw = xw[:, n_kernels * c_out :], xw[:, : n_kernels * c_out].view(-1, n_kernels, c_out)
            messages = (basis.unsqueeze(-1) * xw[src.unsqueeze(1), index]).sum(1)  # (E, out)
        n = x.shape[0]
        summed = torch.zeros(n, c_out, dtype=messages.dtype, device=messages.device).index_add_(0, dst, messages)
        count = torch.bincount(dst, minlength=n).clamp(min=1).to(messages.dtype)
        return summed / count.unsqueeze(1) + root + self.bias


def pyg_lib_spline_ops() -> tuple:
    """pyg-lib's compiled ``(spline_basis, spline_weighting)``, or an ImportError that says what to do."""
    try:
        from pyg_lib.ops import spline_basis as basis_fn
        from pyg_lib.ops import spline_weighting as weighting_fn
    except ImportError as err:
        raise ImportError(PYG_LIB_HINT) from err
    return basis_fn, weighting_fn


class ChebConv(torch_geometric.nn.ChebConv):
    """PyG's ``ChebConv`` (same parameters, same output): x' = sum_k T_k(L) x W_k + b, projections first.

    L is the scaled normalised Laplacian 2 (I - D^-1/2 A D^-1/2) / lambda_max - I, computed once per graph.
    Clenshaw: b_k = x W_k + 2 L b_{k+1} - b_{k+2} (k = K-1 .. 1), x' = x W_0 + L b_1 - b_2 + b.
    """

    def forward(self, x: Tensor | SparseFeatures, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if getattr(self, "_graph", None) is not edge_index:  # one graph per model: normalise it once
            self._graph = edge_index
            self._laplacian = self.__norm__(edge_index, x.shape[0], edge_weight, self.normalization)
        (src, dst), weight = self._laplacian

        def laplacian(h: Tensor) -> Tensor:  # (N, out) -> (N, out)
            return torch.zeros_like(h).index_add_(0, dst, h[src] * weight.unsqueeze(1))

        y = project(x, torch.cat([lin.weight for lin in self.lins])).chunk(len(self.lins), dim=1)  # K × (N, out)
        out = y[0]
        if len(y) > 1:
            b1, b2 = y[-1], torch.zeros_like(y[0])
            for y_k in reversed(y[1:-1]):
                b1, b2 = y_k + 2 * laplacian(b1) - b2, b1
            out = out + laplacian(b1) - b2
        return out + self.bias if self.bias is not None else out


class InputProjected(nn.Module):
    """A PyG convolution whose input projection ``conv.lin`` (bias-free) is applied with :func:`project`.

    ``InputProjected(GCNConv(a, b))(x, ...) == GCNConv(a, b)(x, ...)`` with the same parameters and
    initialisation (the weight is the conv's own), but ``x`` may be :class:`SparseFeatures`.
    """

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        if getattr(conv.lin, "bias", None) is not None:
            raise ValueError(f"{type(conv).__name__}.lin has a bias; only bias-free projections can be factored out")
        self.weight = conv.lin.weight  # (out, in)
        conv.lin = nn.Identity()
        self.conv = conv

    def forward(self, x: Tensor | SparseFeatures, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return self.conv(project(x, self.weight), edge_index, edge_attr)


class DNAConv(torch_geometric.nn.DNAConv):
    """PyG's ``DNAConv`` (same parameters, same output) with node-wise projections.

    Input (N, L, C), the outputs of the L previous layers of every node; output (N, C). For an edge
    j → i, node i's newest representation queries the L representations of node j (multi-head,
    grouped projections, restricted softmax over L); messages are weighted by GCN normalisation
    with self-loops and summed.
    """

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        n, length, channels = x.shape
        if self._cached_edge_index is None:
            norm = gcn_norm(edge_index, edge_weight, n, False, self.add_self_loops, self.flow, dtype=x.dtype)
            if self.cached:
                self._cached_edge_index = norm
        else:
            norm = self._cached_edge_index
        (src, dst), weight = norm
        mh = self.multi_head
        heads, per_head = mh.heads, channels // mh.heads
        q = mh.lin_q(x[:, -1]).view(n, 1, heads, per_head)  # (N, 1, H, d)
        k = mh.lin_k(x).view(n, length, heads, per_head)  # (N, L, H, d)
        v = mh.lin_v(x).view(n, length, heads, per_head)  # (N, L, H, d)
        # Broadcast products, not einsum: einsum turns these into E·H tiny matrix products.
        score = (q[dst] * k[src]).sum(-1) / math.sqrt(per_head)  # (E, L, H)
        score = F.dropout(restricted_softmax(score, dim=1), p=mh.dropout, training=self.training)
        messages = (score.unsqueeze(-1) * v[src]).sum(1).view(-1, channels) * weight.unsqueeze(1)  # (E, C)
        return torch.zeros(n, channels, dtype=x.dtype, device=x.device).index_add_(0, dst, messages)
