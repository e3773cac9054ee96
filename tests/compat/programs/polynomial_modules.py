"""A cubic fit with nn.Linear on x.pow(tensor([1, 2, 3])) features (integer exponents: float32 must
stay float32), MSELoss(reduction='sum'), SGD with momentum and nesterov; plus momentum SGD and RMSprop on
0-dim parameters, whose optimiser state must be updated in place."""
import math

import numpy as np
import torch


def main(steps=60):
    x = torch.linspace(-math.pi, math.pi, 200)
    y = torch.sin(x)
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    assert xx.dtype == torch.float32
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    rng = np.random.default_rng(0)
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(rng.standard_normal((1, 3)).astype(np.float32) * 0.1))
        model[0].bias.fill_(0.05)
    loss_fn = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9, nesterov=True)
    scalar = torch.tensor(1.5, requires_grad=True)
    scalar_opt = torch.optim.SGD([scalar], lr=0.1, momentum=0.9)
    other = torch.tensor(-2.0, requires_grad=True)
    other_opt = torch.optim.RMSprop([other], lr=0.05, momentum=0.5, centered=True)
    losses, scalar_losses = [], []
    for t in range(steps):
        loss = loss_fn(model(xx), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for param, opt in ((scalar, scalar_opt), (other, other_opt)):
            opt.zero_grad()
            s_loss = param * param
            scalar_losses.append(s_loss.item())
            s_loss.backward()
            opt.step()
    linear = model[0]
    return {"losses": losses, "scalar_losses": scalar_losses,
            "weights": linear.weight.detach().numpy().tolist() + [linear.bias.item()],
            "momentum_shape": list(scalar_opt.state[scalar]["momentum_buffer"].shape)}
