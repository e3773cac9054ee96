"""``SyncBatchNorm``: batch normalisation whose training statistics are those of the whole batch, all
ranks' parts together (``torch.nn.SyncBatchNorm``); outside training, or in a group of one process, it is
BatchNorm. The sums over ranks are differentiable all-reduces, so gradients flow across ranks as well.
It asks ``deepgrad.distributed`` (layer 6) for the process group when it runs, not when it is imported."""
from ... import backend
from ...autograd.tensor import Tensor
from .normalization import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation of (N, C, ...) inputs over the batch of every rank of the process group."""
    _dims = (2, 3, 4, 5)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        if process_group is not None:
            raise ValueError("SyncBatchNorm: deepgrad.distributed has one process group; pass process_group=None")
        self.process_group = None

    def forward(self, input):
        from ... import distributed
        from ...distributed.functional import all_reduce
        if not (self.training and distributed.is_initialized() and distributed.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        axes = (0,) + tuple(range(2, input.ndim))
        shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
        count = Tensor(backend.numpy.array([input.numel() // input.shape[1]], backend.numpy.float64))
        distributed.all_reduce(count)
        n = float(count.item())
        mean = all_reduce(input.sum(dim=axes)) / n
        centred = input - mean.reshape(shape)
        var = all_reduce((centred * centred).sum(dim=axes)) / n
        out = centred / (var.reshape(shape) + self.eps).sqrt()
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.array, var.array * n / max(n - 1, 1))
        return out

    def _update_running_stats(self, mean, unbiased_var):
        """running = (1 − momentum)·running + momentum·batch (momentum None: the cumulative average)."""
        self.num_batches_tracked.array[...] += 1
        factor = 1.0 / float(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
        for running, batch in ((self.running_mean, mean), (self.running_var, unbiased_var)):
            running.array[...] = (1 - factor) * running.array + factor * batch

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d (itself included) replaced by a SyncBatchNorm holding the same
        parameters, buffers and mode."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for table in ("_parameters", "_buffers"):
                getattr(converted, table).update(getattr(module, table))
            converted.train(module.training)
            return converted
        for name, child in module.named_children():
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                setattr(module, name, new)
        return module
