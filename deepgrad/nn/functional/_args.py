"""Checking and normalising the arguments of the convolution and pooling functions, with errors that
name the argument and the numbers involved."""


def ntuple(value, n, name, minimum=1):
    """``value`` (an int or a sequence of n ints) as a tuple of n ints, each >= ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(value) != n or any(not isinstance(v, int) or isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    for v in value:
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_input(op, x, nd, what="input"):
    """Accept (N, C, *spatial) or unbatched (C, *spatial); return the batched tensor and whether it was."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), False
    if x.ndim != nd + 2:
        raise ValueError(f"{op}: expected {what} of shape (N, C, {', '.join('LHW'[-nd:] if nd < 3 else 'DHW')}) "
                         f"or unbatched (C, ...), i.e. {nd + 2} or {nd + 1} dimensions, got shape {x.shape}")
    if 0 in x.shape[1:]:          # an empty batch is fine (empty output), as in PyTorch
        raise ValueError(f"{op}: {what} of shape {x.shape} is empty in a non-batch dimension")
    return x, True


def effective_kernel(kernel, dilation):
    """K' = K + (K − 1)(D − 1), the extent of a dilated kernel (seed 4.5.2)."""
    return tuple(k + (k - 1) * (d - 1) for k, d in zip(kernel, dilation))


def out_sizes(op, spatial, kernel, stride, lo, hi, dilation):
    """(M − K' + P_lo + P_hi) // S + 1 per axis (seed 4.1.3), each required to be >= 1."""
    sizes = []
    for i, (m, k, s, l, h) in enumerate(zip(spatial, effective_kernel(kernel, dilation), stride, lo, hi)):
        n = (m + l + h - k) // s + 1
        if m + l + h < k or n < 1:
            raise ValueError(f"{op}: the (dilated) kernel extent {k} on spatial axis {i} is larger than the "
                             f"padded input ({m} + {l} + {h} = {m + l + h}); the output would be empty")
        sizes.append(n)
    return tuple(sizes)
