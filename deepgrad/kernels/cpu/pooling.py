"""Pooling on the CPU: ``generic.pooling.Pooling`` on the flat grid of ``grid.py`` (unit-stride windows as
long 1-D slices), with in-place maxima and two shortcuts that look at the data: the NaN pass of
``max_offsets`` only where a maximum is NaN, and selection by multiplication (much faster than
``where`` on large arrays) where the values are finite."""
from ... import backend
from ..generic.pooling import Pooling
from .grid import Grid


class CpuPooling(Pooling):
    grid = Grid

    def _maximum(self, xp, best, t):
        return xp.maximum(best, t, out=best)

    def _nan_offsets(self, offsets, taps, nan, dtype):
        return super()._nan_offsets(offsets, taps, nan, dtype) if nan.any() else offsets

    def _select(self, mask, values):
        if backend.numpy.isfinite(values).all():    # else 0·inf would leak NaN
            return values * mask
        return super()._select(mask, values)
