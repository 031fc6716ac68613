"""Graph layers against references: the B-spline basis against Cox–de Boor, every faster layer against PyG's."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch_geometric.nn as pyg
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphs.features import SparseFeatures, dropout, project
from graphs.layers import ChebConv, DNAConv, InputProjected, SplineConv, pyg_lib_spline_ops, spline_basis


def cardinal_bspline(t: float, degree: int) -> float:
    """The uniform B-spline of ``degree`` with knots 0, 1, ..., degree + 1, by the Cox–de Boor recursion."""
    if degree == 0:
        return 1.0 if 0 <= t < 1 else 0.0
    return (t * cardinal_bspline(t, degree - 1) + (degree + 1 - t) * cardinal_bspline(t - 1, degree - 1)) / degree


def brute_basis(pseudo: torch.Tensor, kernel: list[int], is_open: list[bool], degree: int) -> torch.Tensor:
    """Dense (E, prod kernel) tensor-product basis: function i_d of dimension d is N(v - i_d + degree),
    v = u (kernel_d - degree) for an open spline, u kernel_d for a closed one (then periodic)."""
    n_edges = pseudo.shape[0]
    out = torch.zeros(n_edges, math.prod(kernel), dtype=torch.float64)
    for e in range(n_edges):
        for combo in itertools.product(*(range(k) for k in kernel)):
            value, flat, stride = 1.0, 0, 1
            for d, i in enumerate(combo):
                v = float(pseudo[e, d]) * (kernel[d] - degree if is_open[d] else kernel[d])
                shifts = [0] if is_open[d] else [-kernel[d], 0, kernel[d]]
                value *= sum(cardinal_bspline(v - (i + s) + degree, degree) for s in shifts)
                flat += i * stride
                stride *= kernel[d]
            out[e, flat] = value
    return out


@pytest.mark.parametrize(
    ("dim", "kernel", "degree", "is_open"),
    [
        (1, 2, 1, True),
        (1, 5, 1, True),
        (1, 5, 2, True),
        (1, 6, 3, True),
        (2, 3, 1, True),
        (2, 4, 2, False),
        (1, 4, 1, False),
    ],
)
def test_spline_basis_matches_cox_de_boor(dim: int, kernel: int, degree: int, is_open: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    pseudo = torch.rand(40, dim, generator=gen, dtype=torch.float64)
    pseudo[0] = 0.0
    pseudo[1] = 1.0  # both ends of the interval
    basis, index = spline_basis(pseudo, torch.full((dim,), kernel), torch.full((dim,), int(is_open)), degree)
    dense = torch.zeros(len(pseudo), kernel**dim, dtype=torch.float64).scatter_add_(1, index, basis)
    expected = brute_basis(pseudo, [kernel] * dim, [is_open] * dim, degree)
    torch.testing.assert_close(dense, expected)
    torch.testing.assert_close(basis.sum(1), torch.ones(len(pseudo), dtype=torch.float64))  # partition of unity


def small_graph(n: int = 12, isolated: bool = True) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    edges = torch.randint(n - int(isolated), (2, 40), generator=gen)  # node n-1 has no edge when isolated
    edges = edges[:, edges[0] != edges[1]]
    return torch.unique(torch.cat([edges, edges.flip(0)], 1), dim=1)


def sparse_input(n: int, f: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(2)
    return torch.rand(n, f, generator=gen) * (torch.rand(n, f, generator=gen) < 0.3)


def test_spline_conv_matches_a_per_edge_loop() -> None:
    torch.manual_seed(0)
    edge_index, x = small_graph(), sparse_input(12, 5)
    pseudo = torch.rand(edge_index.shape[1], 1)
    conv = SplineConv(5, 3, dim=1, kernel_size=2)
    out = conv(x, edge_index, pseudo)
    expected = torch.zeros(12, 3)
    count = torch.zeros(12)
    for (j, i), u in zip(edge_index.T.tolist(), pseudo[:, 0].tolist(), strict=True):
        kernel = (1 - u) * conv.weight[0] + u * conv.weight[1]  # open, degree 1, two kernels on [0, 1]
        expected[i] += x[j] @ kernel
        count[i] += 1
    expected = expected / count.clamp(min=1).unsqueeze(1) + x @ conv.root + conv.bias
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(conv(SparseFeatures.from_dense(x), edge_index, pseudo), out)


def test_pyg_lib_backend_is_used_or_named() -> None:
    try:
        import pyg_lib.ops

        has_ops = hasattr(pyg_lib.ops, "spline_basis")
    except ImportError:
        has_ops = False
    if has_ops:
        torch.manual_seed(0)
        edge_index, x = small_graph(), sparse_input(12, 5)
        pseudo = torch.rand(edge_index.shape[1], 1)
        ours = SplineConv(5, 3, dim=1, kernel_size=2)
        theirs = SplineConv(5, 3, dim=1, kernel_size=2, backend="pyg-lib")
        theirs.load_state_dict(ours.state_dict())
        torch.testing.assert_close(theirs(x, edge_index, pseudo), ours(x, edge_index, pseudo))
    else:
        with pytest.raises(ImportError, match="pyg-lib"):
            pyg_lib_spline_ops()
        with pytest.raises(ImportError, match="spline_backend=torch"):
            SplineConv(5, 3, dim=1, kernel_size=2, backend="pyg-lib")


def assert_same_forward_and_grads(ours: torch.nn.Module, theirs: torch.nn.Module, *inputs) -> None:
    """Same output and same parameter gradients (matched in registration order)."""
    out_ours, out_theirs = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(out_ours, out_theirs)
    grads_ours = torch.autograd.grad(out_ours.square().sum(), list(ours.parameters()))
    grads_theirs = torch.autograd.grad(out_theirs.square().sum(), list(theirs.parameters()))
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_cheb_conv_matches_pyg(k: int) -> None:
    torch.manual_seed(0)
    theirs = pyg.ChebConv(6, 4, K=k)
    ours = ChebConv(6, 4, K=k)
    ours.load_state_dict(theirs.state_dict())
    edge_index, x = small_graph(), sparse_input(12, 6)
    assert_same_forward_and_grads(ours, theirs, x, edge_index)
    torch.testing.assert_close(ours(SparseFeatures.from_dense(x), edge_index), theirs(x, edge_index))


def test_dna_conv_matches_pyg() -> None:
    torch.manual_seed(0)
    theirs = pyg.DNAConv(16, heads=4, groups=2, dropout=0.0)
    ours = DNAConv(16, heads=4, groups=2, dropout=0.0)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(12, 3, 16)  # three layers of history
    assert_same_forward_and_grads(ours, theirs, x, small_graph())


@pytest.mark.parametrize("make", [lambda: pyg.GCNConv(7, 5), lambda: pyg.GATConv(7, 3, heads=2)], ids=["gcn", "gat"])
def test_input_projected_conv_matches_the_conv(make) -> None:
    torch.manual_seed(0)
    theirs = make()
    torch.manual_seed(0)
    ours = InputProjected(make())
    edge_index, x = small_graph(), sparse_input(12, 7)
    out = theirs(x, edge_index)
    torch.testing.assert_close(ours(x, edge_index), out)
    torch.testing.assert_close(ours(SparseFeatures.from_dense(x), edge_index), out)


def test_sparse_projection_and_dropout() -> None:
    x = sparse_input(30, 9)
    sparse = SparseFeatures.from_dense(x)
    torch.testing.assert_close(sparse.csr_t.to_dense(), x.t())
    weight = torch.randn(4, 9, requires_grad=True)
    (grad_sparse,) = torch.autograd.grad(project(sparse, weight).square().sum(), weight)
    (grad_dense,) = torch.autograd.grad((x @ weight.t()).square().sum(), weight)
    torch.testing.assert_close(grad_sparse, grad_dense)

    torch.manual_seed(0)
    dropped = dropout(sparse, 0.5, training=True)
    dense = dropped.to_dense()
    kept = dense != 0
    assert not (kept & (x == 0)).any()  # zeros stay zero
    torch.testing.assert_close(dense[kept], 2 * x[kept])  # survivors scaled by 1 / (1 - p)
    assert 0.3 < kept.sum() / (x != 0).sum() < 0.7
    torch.testing.assert_close(dropped.csr_t.to_dense(), dense.t())  # the transpose carries the same mask
    assert dropout(sparse, 0.5, training=False) is sparse


def test_gcn_norm_of_the_test_graph_has_an_isolated_node() -> None:  # guards the graphs above
    (src, dst), _ = gcn_norm(small_graph(), None, 12)
    assert 11 not in src[src != dst].tolist()
