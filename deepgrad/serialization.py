"""Saving and loading tensors in the safetensors format: no pickle, so loading a file never runs code.

``save`` writes atomically (a temporary file in the same folder, flushed and fsync'ed, then renamed
over the target), so an interrupted save leaves the previous file intact. A SHA-256 of the tensor
data is stored in the header and checked by ``load``, so a corrupted file is refused, never half-loaded.
"""
import hashlib
import json
import os
import tempfile

from . import backend
from .autograd.tensor import Tensor

_CHECKSUM = "deepgrad.sha256"
_USER = "deepgrad.metadata"


def _digest(arrays):
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _host(value, name):
    if isinstance(value, Tensor):
        value = value.numpy()
    elif not isinstance(value, backend.numpy.ndarray):
        raise TypeError(f"save: entry {name!r} must be a Tensor or NumPy array, got {type(value).__name__}")
    return value if value.flags.c_contiguous else value.copy(order="C")   # (ascontiguousarray makes 0-d 1-d)


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` so that readers see the old file or the whole new one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def fsync_dir(folder):
    """Make a rename inside ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(tensors, path, metadata=None):
    """Save a dict of name -> Tensor (a ``state_dict``) to ``path`` in safetensors format, atomically.
    ``metadata``: an optional JSON-serialisable dict kept in the file's header."""
    from safetensors.numpy import save as st_save
    if not isinstance(tensors, dict):
        raise TypeError(f"save: expected a dict of name -> Tensor, got {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        arrays[name] = _host(value, name)
    header = {_CHECKSUM: _digest(arrays)}
    if metadata is not None:
        try:
            header[_USER] = json.dumps(metadata, sort_keys=True)
        except TypeError as e:
            raise TypeError(f"save: metadata must be JSON-serialisable: {e}") from None
    atomic_write(path, st_save(arrays, metadata=header))


def load(path, with_metadata=False):
    """Load what ``save`` wrote: a dict of name -> Tensor (and the metadata dict if ``with_metadata``).
    A missing, truncated, corrupted or foreign file raises a ValueError saying so."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        arrays = st_load(raw)
        header = _header(raw)
    except (SafetensorError, ValueError, OSError) as e:
        raise ValueError(f"load: {path} is not a valid safetensors file (truncated, corrupted or another "
                         f"format such as a pickle): {e}") from None
    expected = header.get(_CHECKSUM)
    if expected is not None and expected != _digest(arrays):
        raise ValueError(f"load: {path} is corrupted: its data does not match the checksum in its header")
    tensors = {name: Tensor.wrap(a.copy()) for name, a in arrays.items()}
    if with_metadata:
        meta = json.loads(header[_USER]) if _USER in header else None
        return tensors, meta
    return tensors


def _header(raw):
    """The ``__metadata__`` part of a safetensors header."""
    if len(raw) < 8:
        raise ValueError("file shorter than a safetensors header")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise ValueError("header longer than the file")
    return json.loads(raw[8:8 + n]).get("__metadata__") or {}
