"""Tensor facts and plain conversions as PyTorch names them (issue 13's coverage table): dtype casts by
name, new_* factories, contiguity, clone/detach/numel as functions, randperm."""
import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["half", "int", "short", "bool", "byte", "char", "long", "float", "double"])
def test_casts_by_name_match_torch(name):
    a = np.array([[-1.5, 0.0, 2.7], [3.2, -0.2, 1.0]], np.float32)
    got, expected = getattr(dg.tensor(a), name)(), getattr(torch.tensor(a), name)()
    assert str(got.dtype) == str(expected.dtype).replace("torch.", "")
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_new_factories_take_the_tensors_dtype_unless_told():
    for lib in (dg, torch):
        x = lib.ones(2, 3, dtype=lib.float64)
        assert x.new_zeros(4).dtype == lib.float64 and x.new_ones((2, 2)).shape == (2, 2)
        assert x.new_full((3,), 7).tolist() == [7.0, 7.0, 7.0] and x.new_empty(5).shape == (5,)
        assert x.new_zeros(2, dtype=lib.int64).dtype == lib.int64
        assert x.new_tensor([1, 2]).dtype == lib.float64
        assert x.new_zeros(2, requires_grad=True).requires_grad


def test_contiguity_and_facts():
    for lib in (dg, torch):
        x = lib.arange(6.0).reshape(2, 3)
        t = x.t()
        assert x.is_contiguous() and not t.is_contiguous()
        c = t.contiguous()
        assert c.is_contiguous() and c.tolist() == t.tolist() and x.contiguous() is x
        assert x.element_size() == 4 and x.nelement() == 6 == lib.numel(x)
        assert x.is_floating_point() and not lib.is_floating_point(lib.tensor([1]))
        assert lib.is_tensor(x) and not lib.is_tensor([1.0]) and x.is_cuda is False


def test_clone_and_detach_as_functions():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    c = dg.clone(w)
    (c * c).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    assert not np.shares_memory(c.numpy(), w.numpy())
    d = dg.detach(w)
    assert not d.requires_grad and np.shares_memory(d.numpy(), w.numpy())


def test_randperm_is_a_seeded_permutation():
    p = dg.randperm(10, generator=dg.Generator(3))
    assert p.dtype == dg.int64 and sorted(p.tolist()) == list(range(10))
    np.testing.assert_array_equal(p.numpy(), dg.randperm(10, generator=dg.Generator(3)).numpy())
    assert dg.randperm(0).shape == (0,) and dg.randperm(4, dtype=dg.float32).dtype == dg.float32
    with pytest.raises(ValueError, match="non-negative"):
        dg.randperm(-1)


def test_scatter_in_place_and_detach_in_place_as_torch():
    results = []
    for lib in (dg, torch):
        x = lib.zeros(2, 4)
        index = lib.tensor([[0, 1, 2, 0], [3, 3, 1, 2]])
        src = lib.arange(1.0, 9.0).reshape(2, 4)
        x.scatter_add_(1, index, src)
        y = lib.ones(2, 4)
        y.scatter_(1, lib.tensor([[1], [2]]), lib.tensor([[5.0], [6.0]]))
        w = lib.tensor([1.0], requires_grad=True)
        h = w * 2
        h.detach_()
        results.append([x.tolist(), y.tolist(), h.requires_grad, h.is_leaf, lib.neg(src).tolist(),
                        x.data_ptr() == x.data_ptr()])
    assert results[0] == results[1]
