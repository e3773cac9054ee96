"""Fault injection for tests/test_cli_misuse.py, loaded by a child Python at start-up (its folder is put
first on PYTHONPATH), so the real ``deepgrad`` command runs unchanged and fails at a chosen point,
not at a lucky moment. DEEPGRAD_FAULT selects one:

    kill:<file>:<n>            SIGKILL itself just before the n-th time <file> is put in place (renamed)
    signal:<SIGNAME>:<k>,...   send itself the signal at the start of each listed training step
                               (a step listed twice gets it twice)
"""
import os
import signal
import sys

_FAULT = os.environ.get("DEEPGRAD_FAULT", "")


def _kill_before_rename(target, n):
    seen = [0]

    def hook(event, args):
        if event == "os.rename" and os.path.basename(str(args[1])) == target:
            seen[0] += 1
            if seen[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
    sys.addaudithook(hook)


def _signal_at_steps(name, steps):
    from deepgrad.train import Trainer
    real, count = Trainer._train_step, [0]

    def step(self, x, y):
        count[0] += 1
        for _ in range(steps.count(count[0])):
            os.kill(os.getpid(), getattr(signal, name))
        return real(self, x, y)
    Trainer._train_step = step


if _FAULT.startswith("kill:"):
    _, _target, _n = _FAULT.split(":")
    _kill_before_rename(_target, int(_n))
elif _FAULT.startswith("signal:"):
    _, _name, _steps = _FAULT.split(":")
    _signal_at_steps(_name, [int(k) for k in _steps.split(",")])
