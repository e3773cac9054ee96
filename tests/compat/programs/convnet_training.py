"""An MNIST-style training script on synthetic images: nn.Module with Conv2d/max_pool2d/flatten/Linear,
log_softmax + nll_loss, Adadelta with StepLR, TensorDataset + DataLoader, accuracy by argmax/eq/view_as,
a checkpoint dict saved with torch.save and loaded back, device chosen as pytorch/examples does."""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def _data(rng, n):
    labels = rng.integers(0, 3, n)
    images = rng.standard_normal((n, 1, 12, 12)).astype(np.float32) * 0.3
    for k in range(3):                      # class k: a bright band in rows 3k..3k+3
        images[labels == k, 0, 3 * k:3 * k + 3, :] += 1.0
    return torch.from_numpy(images), torch.from_numpy(labels)


def main(epochs=3):
    use_accel = torch.accelerator.is_available()
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    rng = np.random.default_rng(1)
    train = TensorDataset(*_data(rng, 96))
    test = TensorDataset(*_data(rng, 48))
    train_loader = DataLoader(train, batch_size=16, shuffle=False)
    test_loader = DataLoader(test, batch_size=1000)
    model = Net().to(device)
    weights = np.random.default_rng(2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(weights.standard_normal(tuple(p.shape)).astype(np.float32) * 0.2))
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            history.append(loss.item())
        scheduler.step()
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "checkpoint.pt")
    torch.save({"epoch": epochs, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "loss": test_loss}, path)
    checkpoint = torch.load(path, map_location="cpu")
    restored = Net()
    restored.load_state_dict(checkpoint["model"])
    optimizer2 = optim.Adadelta(restored.parameters(), lr=1.0)
    optimizer2.load_state_dict(checkpoint["optimizer"])
    os.remove(path)
    os.rmdir(folder)
    same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values()))
    return {"history": history, "test_loss": test_loss / len(test), "correct": correct, "same": same,
            "epoch": checkpoint["epoch"], "lr": scheduler.get_last_lr()[0],
            "state_keys": sorted(optimizer2.state_dict()["state"][0])}
