"""The autograd tutorials' habits: requires_grad_, grad_fn and next_functions, retain_grad, hooks,
backward with a gradient, torch.autograd.grad with create_graph, no_grad and detach, in-place updates of
non-leaf tensors, `.data` updates, gradient accumulation and grad.zero_(), set_grad_enabled, numpy scalars on
either side."""
import numpy as np
import torch


def main():
    out = {}
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.randn(5, 3).mul_(0).add_(torch.arange(15.0).reshape(5, 3) / 10)
    w.requires_grad_(True)
    b = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    out["grad_fn"] = z.grad_fn.name()
    out["next"] = [type(f).__name__ == "AccumulateGrad" for f, _ in z.grad_fn.next_functions]
    z.retain_grad()
    seen = []
    handle = z.register_hook(lambda g: seen.append(g.sum().item()))
    loss.backward(retain_graph=True)
    handle.remove()
    out["w_grad"] = w.grad.numpy().tolist()
    out["z_grad"] = z.grad.numpy().tolist()
    loss.backward()                              # gradients accumulate
    out["b_grad_twice"] = b.grad.numpy().tolist()
    b.grad.zero_()
    out["hook"] = seen

    v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    u = v * 2
    u.backward(torch.tensor([0.1, 1.0, 0.0001]))
    out["vector_jacobian"] = v.grad.numpy().tolist()

    (g,) = torch.autograd.grad((v ** 3).sum(), v, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), v)
    out["second"] = gg.numpy().tolist()

    with torch.no_grad():
        out["no_grad"] = (v * 2).requires_grad
    out["detached"] = (v.detach() * 2).requires_grad
    with torch.set_grad_enabled(False):
        out["set_grad"] = (v * 2).requires_grad
    out["after"] = (v * 2).requires_grad

    h = v * 1.0
    h.mul_(3)
    h += 1
    h[0] = v[1] * 10
    h.sum().backward()
    out["inplace_grad"] = v.grad.numpy().tolist()

    f = torch.tensor([0.5, -0.5], requires_grad=True)         # the blitz tutorial's manual update
    (f * f * 2).sum().backward()
    f.data.sub_(f.grad.data * 0.01)
    f.data = f.data * 3
    out["data_update"] = [f.tolist(), f.is_leaf, f.requires_grad]

    s = np.float32(2.0) * v
    out["numpy_scalar"] = [type(s).__name__, s.requires_grad, s.dtype == torch.float32]
    out["promotion"] = [(torch.ones(2) + torch.tensor([1, 2])).dtype == torch.float32,
                        (torch.tensor([1, 2]) * 2.5).dtype == torch.float32,
                        (torch.ones(2) ** torch.tensor(2)).dtype == torch.float32,
                        (torch.ones(2, dtype=torch.float16) + torch.tensor(1.0, dtype=torch.float64)).dtype == torch.half]
    return out
