"""deepgrad.static passes on small hand-written graphs: what each one removes, merges or rewrites."""
import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops import binary, linalg, shape, unary
from deepgrad.static import passes, prims
from deepgrad.static.executor import Program
from deepgrad.static.ir import Equation, Graph, Var

f32 = np.float32


def v(*shape, dtype=f32):
    return Var(shape, dtype)


def eq(prim, ins, out, **params):
    return Equation(prim, params, ins, out, (), {"alias": None, "fresh": True, "storage": out.nbytes})


def run(graph, *arrays):
    outs, _ = Program(graph).run(*arrays)
    return outs


def names(graph):
    return [e.name for e in graph.equations]


# ---------------------------------------------------------------- dce
def test_dce_drops_unused_equations_and_constants_but_keeps_guards():
    x, a, b, c, k, flag = v(3), v(3), v(3), v(3), v(), v(dtype=bool)
    g = Graph([x], [eq(unary._exp, [x], a),                       # used
                    eq(unary._tanh, [x], b),                      # dead
                    eq(binary._mul, [b, k], c),                   # dead, and the only user of k
                    eq(binary._gt, [x, x], v(3, dtype=bool)),     # dead
                    Equation(prims.guard, {"op": prims.NumpyMethod.get("any"), "op_params": {"args": (), "kwargs": {}},
                                           "expected": False}, [flag], None)],
              [a], {k: np.array(2, f32), flag: np.array(False)})
    out = passes.dce(g)
    assert names(out) == ["exp", "guard"]
    assert k not in out.constants and flag in out.constants


# ---------------------------------------------------------------- cse
def test_cse_merges_equal_equations_and_equal_constants():
    x, y, a, b, c, d, e = v(4), v(4), v(4), v(4), v(4), v(4), v(4)
    k1, k2 = v(), v()
    g = Graph([x, y], [eq(binary._mul, [x, y], a),
                       eq(binary._mul, [x, y], b),          # same as a
                       eq(binary._mul, [y, x], e),          # operands swapped: kept
                       eq(binary._add, [a, k1], c),
                       eq(binary._add, [b, k2], d)],        # same as c once b = a and k2 = k1
              [c, d, e], {k1: np.array(1.5, f32), k2: np.array(1.5, f32)})
    out = passes.cse(g)
    assert names(out) == ["mul", "mul", "add"]
    assert out.outputs[0] is out.outputs[1]
    assert len(out.constants) == 1
    xs, ys = np.arange(4, dtype=f32), np.ones(4, f32) * 3
    for got, want in zip(run(out, xs, ys), run(g, xs, ys)):
        np.testing.assert_array_equal(got, want)


def test_cse_keeps_different_parameters_and_random_draws_apart():
    x, a, b = v(2, 3), v(3, 2), v(3, 2)
    r1, r2 = v(2), v(2)
    gen = dg.backend.default_generator
    draw = {"generator": gen, "args": (2,), "kwargs": {}}
    g = Graph([x], [eq(shape._reshape, [x], a, shape=(3, 2)),
                    eq(shape._permute, [x], b, perm=(1, 0)),
                    eq(prims.Random.get("random"), [], r1, **draw),
                    eq(prims.Random.get("random"), [], r2, **draw)],
              [a, b, r1, r2], {})
    assert names(passes.cse(g)) == ["reshape", "permute", "random.random", "random.random"]


# ---------------------------------------------------------------- constant folding
def test_fold_constants_evaluates_constant_equations_only():
    x, k, kk, s, out = v(3), v(3), v(3), v(3), v(3)
    ext = v(3)
    e2, y = v(3), v(3)
    param = dg.tensor([1.0, 2.0, 3.0])
    g = Graph([x], [eq(unary._exp, [k], kk),            # constant: folded
                    eq(binary._mul, [kk, k], s),        # constant once kk is: folded
                    eq(binary._add, [x, s], out),       # reads the input: kept
                    eq(unary._exp, [ext], e2),          # an external (read by reference): kept
                    eq(binary._add, [out, e2], y)],
              [y], {k: np.array([0.0, 1.0, 2.0], f32), ext: param.array}, externals={ext: param})
    folded = passes.fold_constants(g)
    assert names(folded) == ["add", "exp", "add"]
    np.testing.assert_allclose(folded.constants[s], np.exp([0.0, 1.0, 2.0]) * [0.0, 1.0, 2.0], rtol=1e-6)
    xs = np.ones(3, f32)
    np.testing.assert_array_equal(run(folded, xs, param.array)[0], run(g, xs, param.array)[0])


def test_a_guard_on_constants_is_checked_once_and_dropped():
    k, flag, x, y = v(3), v(dtype=bool), v(3), v(3)
    guard = Equation(prims.guard, {"op": prims.NumpyMethod.get("__bool__"), "op_params": {"args": (), "kwargs": {}},
                                   "expected": False}, [flag], None)
    g = Graph([x], [eq(prims.NumpyMethod.get("any"), [k], flag, args=(), kwargs={}), guard,
                    eq(unary._exp, [x], y)], [y], {k: np.zeros(3, f32)})
    assert names(passes.fold_constants(g)) == ["exp"]


# ---------------------------------------------------------------- algebraic rewrites
@pytest.mark.parametrize("prim, value, const_first", [
    (binary._mul, 1.0, False), (binary._mul, 1.0, True), (binary._add, 0.0, False), (binary._add, 0.0, True),
    (binary._sub, 0.0, False), (binary._div, 1.0, False)])
def test_simplify_removes_neutral_elements(prim, value, const_first):
    x, k, y, z = v(2, 3), v(3), v(2, 3), v(2, 3)
    ins = [k, x] if const_first else [x, k]
    g = Graph([x], [eq(prim, ins, y), eq(unary._exp, [y], z)], [z], {k: np.full(3, value, f32)})
    out = passes.simplify(g)
    assert names(out) == ["exp"] and out.equations[0].ins == [x]


def test_simplify_keeps_neutral_elements_that_broadcast_or_change_dtype():
    x, k, y, x16, k32, y32 = v(3), v(2, 3), v(2, 3), v(3, dtype=np.float16), v(3), v(3)
    g = Graph([x, x16], [eq(binary._mul, [x, k], y), eq(binary._add, [x16, k32], y32)], [y, y32],
              {k: np.ones((2, 3), f32), k32: np.zeros(3, f32)})
    assert names(passes.simplify(g)) == ["mul", "add"]
    # not neutral: x·2 and x − 0 on the left
    x2, k2, y2 = v(3), v(3), v(3)
    g2 = Graph([x2], [eq(binary._mul, [x2, k2], y2)], [y2], {k2: np.full(3, 2.0, f32)})
    assert names(passes.simplify(g2)) == ["mul"]
    k0, y3 = v(3), v(3)
    g3 = Graph([x2], [eq(binary._sub, [k0, x2], y3)], [y3], {k0: np.zeros(3, f32)})
    assert names(passes.simplify(g3)) == ["sub"]


def test_simplify_composes_reshapes_and_drops_trivial_ones():
    x, a, b, c, d = v(2, 6), v(3, 4), v(12), v(12), v(4, 3)
    g = Graph([x], [eq(shape._reshape, [x], a, shape=(3, 4)), eq(shape._reshape, [a], b, shape=(12,)),
                    eq(shape._reshape, [b], c, shape=(12,)), eq(shape._reshape, [c], d, shape=(4, 3))], [d], {})
    out = passes.simplify(g)
    assert names(out) == ["reshape"] and out.equations[0].ins == [x] and out.equations[0].params["shape"] == (4, 3)
    xs = np.arange(12, dtype=f32).reshape(2, 6)
    np.testing.assert_array_equal(run(out, xs)[0], xs.reshape(4, 3))
    # reshape back to the original shape: nothing left
    e = v(2, 6)
    g2 = Graph([x], [eq(shape._reshape, [x], a, shape=(3, 4)), eq(shape._reshape, [a], e, shape=(2, 6))], [e], {})
    out2 = passes.simplify(g2)
    assert names(out2) == [] and out2.outputs == [x]


def test_simplify_composes_permutations_and_drops_the_identity():
    x, a, b = v(2, 3, 4), v(3, 4, 2), v(4, 2, 3)
    g = Graph([x], [eq(shape._permute, [x], a, perm=(1, 2, 0)), eq(shape._permute, [a], b, perm=(1, 2, 0))], [b], {})
    out = passes.simplify(g)
    assert names(out) == ["permute"] and out.equations[0].ins == [x]
    xs = np.arange(24, dtype=f32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run(out, xs)[0], xs.transpose(1, 2, 0).transpose(1, 2, 0))
    c, d, i = v(3, 2), v(2, 3), v(2, 3)
    y = v(2, 3)
    g2 = Graph([y], [eq(shape._permute, [y], c, perm=(1, 0)), eq(shape._permute, [c], d, perm=(1, 0)),
                     eq(unary.identity, [d], i)], [i], {})
    out2 = passes.simplify(g2)
    assert names(out2) == [] and out2.outputs == [y]


# ---------------------------------------------------------------- fusion
def _chain():
    x, b, s, a, t, m, u = v(4, 5), v(5), v(), v(4, 5), v(4, 5), v(4, 5), v(4, 5)
    g = Graph([x, b], [eq(binary._add, [x, b], a), eq(unary._tanh, [a], t), eq(binary._mul, [t, s], m),
                       eq(unary._relu, [m], u)], [u], {s: np.array(1.5, f32)})
    return g


def test_fusion_merges_an_elementwise_chain_into_one_step():
    g = _chain()
    fused = passes.fuse_elementwise(g)
    assert names(fused) == ["fused"]
    assert fused.equations[0].params["ops"] == ("add", "tanh", "mul", "relu")
    xs = np.random.default_rng(0).standard_normal((4, 5)).astype(f32)
    bs = np.arange(5, dtype=f32)
    np.testing.assert_array_equal(run(fused, xs, bs)[0], run(g, xs, bs)[0])
    program = Program(passes.plan_memory(fused))
    assert program.source.count("out=") >= 3          # the chain runs in one buffer
    np.testing.assert_array_equal(fused.equations[0].prim.forward(xs, bs, np.array(1.5, f32)), run(g, xs, bs)[0])


def test_fusion_stops_at_values_used_elsewhere_and_at_non_elementwise_equations():
    x, a, t, m, s, w = v(3, 3), v(3, 3), v(3, 3), v(3, 3), v(3, 3), v(3, 3)
    g = Graph([x], [eq(unary._exp, [x], a), eq(unary._tanh, [a], t),
                    eq(linalg._matmul, [t, t], m),
                    eq(unary._sin, [m], s), eq(binary._add, [s, a], w)], [w, t], {})
    out = passes.fuse_elementwise(g)
    # exp's result is read twice (tanh and the last add) and tanh's is an output: nothing merges into them
    assert names(out) == ["exp", "tanh", "matmul", "fused"]
    assert out.equations[-1].params["ops"] == ("sin", "add")


def test_fusion_keeps_results_bit_exact_with_composite_rules():
    x, g_, y, z, w = v(6), v(6), v(6), v(6), v(6)
    gr = Graph([x, g_], [eq(unary._sigmoid, [x], y), eq(unary.sigmoid_grad, [g_, y], z), eq(unary.tanh_grad, [z, y], w)],
               [w], {})
    fused = passes.fuse_elementwise(gr)
    assert names(fused) == ["fused"]
    xs = np.linspace(-30, 30, 6).astype(f32)
    gs = np.linspace(1, 2, 6).astype(f32)
    np.testing.assert_array_equal(run(fused, xs, gs)[0], run(gr, xs, gs)[0])


# ---------------------------------------------------------------- memory plan
def test_memory_plan_frees_after_last_use_and_reuses_dead_buffers():
    x, a, b, c, d = v(1000), v(1000), v(1000), v(1000), v(1000)
    g = Graph([x], [eq(unary._exp, [x], a), eq(unary._sin, [a], b), eq(unary._cos, [b], c),
                    eq(unary._tanh, [c], d)], [d], {})
    plan = passes.plan_memory(g).plan
    assert plan.free_after[1] == [a] or a in plan.free_after[1] or a in plan.free_after[2]
    assert plan.naive_bytes == 4 * 4000
    assert plan.peak_without_reuse == 2 * 4000             # each value lives until its successor is computed
    assert plan.reused_buffers >= 2 and plan.peak_bytes <= plan.peak_without_reuse
    xs = np.linspace(0, 1, 1000).astype(f32)
    np.testing.assert_array_equal(run(passes.plan_memory(g), xs)[0], np.tanh(np.cos(np.sin(np.exp(xs)))))
    no_reuse = passes.plan_memory(g, reuse=False).plan
    assert no_reuse.reused_buffers == 0


def test_memory_plan_keeps_a_buffer_alive_while_a_view_of_it_is():
    x, a, view, b, c = v(4, 5), v(4, 5), v(20), v(4, 5), v(20)
    e_view = Equation(shape._reshape, {"shape": (20,)}, [a], view, (), {"alias": a, "fresh": False, "storage": 0})
    g = Graph([x], [eq(unary._exp, [x], a), e_view, eq(unary._sin, [x], b), eq(unary._cos, [view], c)], [b, c], {})
    plan = passes.plan_memory(g).plan
    # a's buffer is read through the view by the last equation: it must not be reused by sin's output
    assert 2 not in plan.donor
    assert plan.naive_bytes == 3 * 80 and plan.peak_bytes == 3 * 80
    xs = np.arange(20, dtype=f32).reshape(4, 5) / 20
    outs = run(passes.plan_memory(g), xs)
    np.testing.assert_array_equal(outs[1], np.cos(np.exp(xs).reshape(20)))


def test_optimize_pipeline_on_a_traced_function():
    def f(x):
        y = (x * 1.0 + 0.0).reshape(2, 6).reshape(3, 4)       # neutral ops and two reshapes
        return (y.exp() * 2).tanh().sum() + (y.exp() * 2).tanh().sum()   # a repeated subexpression
    x = dg.randn(4, 3)
    graph = dg.trace(f, x)
    opt = passes.optimize(graph)
    assert len(opt) < len(graph)
    counts = opt.primitive_counts()
    assert counts.get("reshape") == 1 and "identity" not in counts and counts.get("sum") == 1
    assert opt.plan is not None and opt.plan.peak_bytes <= opt.plan.naive_bytes
    np.testing.assert_allclose(run(opt, x.numpy())[0], f(x).numpy(), rtol=1e-6)
