"""Static computational graphs (seed 三: "static vs dynamic graphs"; layer 5 of DESIGN.md).

Eager deepgrad builds its graph while it runs (dynamic). This package builds the graph first and then
runs it: ``trace`` records a function into an IR (``ir.Graph``, printable like a jaxpr), ``passes``
optimise it, and ``compile`` runs it with a lean executor that creates no Tensors::

    import deepgrad as dg
    graph = dg.trace(model, x)               # parameters and buffers are graph inputs, then x
    print(graph)                              # { lambda ; a:f32[6,1,5,5] ... . let ... in (z) }
    fast = dg.compile(model)                  # traces once per input signature
    with dg.no_grad():
        y = fast(x)
    step = dg.compile(dg.value_and_grad(loss_fn))        # the backward pass is traced too
    train = dg.static.compile_train_step(model, F.cross_entropy, opt)   # forward + backward + update

Choices (see ``tracer`` for the details):
* Tracing records while running: ``fn`` runs once on the example inputs; Python control flow is
  unrolled and the graph is specialised to the inputs' shapes and dtypes (``compile`` retraces when the
  signature changes).
* Tracing a Module makes its parameters and buffers graph inputs (read at every call, updated in place
  when the graph writes them, e.g. BatchNorm's running statistics). For a plain function, tensors it
  closes over are constants: those that existed before the trace (a model's parameters) are read by
  reference at every call, so in-place updates to them are seen; tensors created while tracing are
  fixed values (folded).
* ``bool(t)`` / ``if t:``, ``t.item()``, ``float(t)``, ``t.numpy()`` on a traced value and in-place
  mutation of a traced input raise ``TraceError`` with the operation and the source line. NumPy
  operations that library code performs on ``tensor.array`` are recorded (``prims``), Python values
  library code draws from them are guarded (retrace if they change), random draws are redrawn at
  every call. Writes made through a *view* of ``tensor.array`` raise ``TraceError``; writes into arrays
  that are not traced (``plain[...] = traced``) cannot be recorded and raise ``TraceError`` too.
"""
from .compile import Compiled, Executable, compile
from .executor import Program, replay
from .ir import Equation, Graph, Var
from .passes import MemoryPlan, cse, dce, fold_constants, fuse_elementwise, optimize, plan_memory, simplify
from .prims import GuardFailure
from .tracer import TraceError, trace
from .train import TrainStep, compile_train_step

__all__ = ["trace", "compile", "compile_train_step", "Graph", "Equation", "Var", "TraceError", "Compiled",
           "Executable", "Program", "replay", "MemoryPlan", "dce", "cse", "fold_constants", "simplify",
           "fuse_elementwise", "plan_memory", "optimize", "GuardFailure", "TrainStep"]
