"""Saving and loading in the safetensors format: no pickle, so loading a file never runs code.

``save`` takes what ``torch.save`` is used for in training scripts: a Tensor, a ``state_dict``, or a
checkpoint dict nesting dicts, lists and tuples of tensors, NumPy arrays, numbers, strings and None.
A flat dict of name -> tensor becomes a plain safetensors file under those names; anything else is
split into its tensors (named by their path, e.g. ``optimizer.state.0.exp_avg``) and a JSON skeleton
kept in the header, recording where each tensor goes and the type of every dict key.

``save`` writes atomically (a temporary file in the same folder, flushed and fsync'ed, then renamed
over the target), so an interrupted save leaves the previous file intact. A SHA-256 of the tensor
data and the skeleton is stored in the header and checked by ``load``, so a corrupted file is refused,
never half-loaded. Files are readable as the process's umask allows (like any file it writes).

``load`` reads any safetensors file itself (``_parse``): BF16 tensors come back as float32 (exactly:
bfloat16 is float32's upper half), and a malformed header is refused naming what is wrong.
"""
import hashlib
import json
import os
import tempfile
from collections import Counter

from . import backend
from .autograd.tensor import Tensor

_CHECKSUM = "deepgrad.sha256"
_USER = "deepgrad.metadata"
_STRUCTURE = "deepgrad.structure"
_KEY_TYPES = (str, int, float, bool, type(None))
# Objects that hold state but are not data: (an attribute that marks them, what they are, a name for them).
_STATEFUL = (("named_modules", "a Module", "model"), ("param_groups", "an Optimizer", "optimizer"),
             ("state_dict", "an object with a state_dict()", "obj"))


def _digest(arrays, structure=None):
    h = hashlib.sha256()
    if structure is not None:
        h.update(structure.encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _where(keys):
    return "obj" + "".join(f"[{k!r}]" for k in keys)


def _is_array(value):
    return isinstance(value, Tensor) or backend.is_array(value)


def _host(value, keys):
    a = backend.to_host(value.array if isinstance(value, Tensor) else value)   # from a device: an explicit copy
    if a.dtype.kind not in "biufc":
        raise TypeError(f"save: {_where(keys)} is an array of dtype {a.dtype}; only numbers and booleans can be saved")
    return a if a.flags.c_contiguous else a.copy(order="C")   # (ascontiguousarray makes 0-d 1-d)


def _refusal(value, keys):
    where, kind = _where(keys), type(value).__name__
    for attribute, what, name in _STATEFUL:
        if hasattr(value, attribute):
            return TypeError(f"save: {where} is {what} ({kind}); deepgrad saves tensors and plain data, not "
                             f"objects (nothing is pickled). Save {name}.state_dict() instead and restore it with "
                             f"{name}.load_state_dict(deepgrad.load(path))")
    return TypeError(f"save: cannot save {where}, a {kind}: deepgrad saves Tensors, NumPy arrays, numbers, "
                     f"strings and None, nested in dicts, lists and tuples (nothing is pickled)")


def encode(value, arrays, keys=(), seen=None):
    """The JSON skeleton of ``value``, its tensors moved into ``arrays`` under their dotted path names.
    The same tensor object met twice is stored once (``seen``: id -> name) and both places name it."""
    seen = {} if seen is None else seen
    if _is_array(value):
        if id(value) not in seen:
            name = ".".join(map(str, keys)) or "tensor"
            unique, n = name, 0
            while unique in arrays:
                n += 1
                unique = f"{name}#{n}"
            arrays[unique] = _host(value, keys)
            seen[id(value)] = unique
        return {"tensor": seen[id(value)]}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, _KEY_TYPES):
                raise TypeError(f"save: {_where(keys)} has a key of type {type(k).__name__} ({k!r}); "
                                f"dict keys must be str, int, float, bool or None")
        return {"counter" if isinstance(value, Counter) else "dict":   # (MultiStepLR's milestones are a Counter)
                [[k, encode(v, arrays, keys + (k,), seen)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"tuple" if isinstance(value, tuple) else "list":
                [encode(v, arrays, keys + (i,), seen) for i, v in enumerate(value)]}
    if isinstance(value, (backend.numpy.integer, backend.numpy.floating, backend.numpy.bool_)):
        return value.item()
    if isinstance(value, _KEY_TYPES):
        return value
    raise _refusal(value, keys)


def decode(skeleton, tensors):
    """The inverse of ``encode``: the nest the skeleton describes, holding the named ``tensors``."""
    if not isinstance(skeleton, dict):
        return skeleton
    (tag, body), = skeleton.items()
    if tag == "tensor":
        return tensors[body]
    if tag in ("dict", "counter"):
        items = {k: decode(v, tensors) for k, v in body}
        return items if tag == "dict" else Counter(items)
    if tag in ("list", "tuple"):
        items = [decode(v, tensors) for v in body]
        return items if tag == "list" else tuple(items)
    raise ValueError(f"unknown entry {tag!r} in a saved structure")


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` so that readers see the old file or the whole new one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())      # mkstemp makes 0600; a saved file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:     # name the file (disk full, file too large)
            raise OSError(e.errno, e.strerror or str(e), path) from None
        raise
    fsync_dir(folder)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def save(obj, f, metadata=None):
    """Save ``obj`` to ``f`` (a path, written atomically, or a binary file object) as one safetensors
    file, like ``torch.save``: a Tensor or NumPy array, or dicts, lists and tuples nesting them with
    numbers, strings and None. A Module or Optimizer is refused: save its ``state_dict()``.
    ``metadata``: an optional JSON-serialisable dict kept in the file's header."""
    from safetensors.numpy import save as st_save
    arrays, header = {}, {}
    if isinstance(obj, dict) and all(isinstance(k, str) and _is_array(v) for k, v in obj.items()):
        arrays = {name: _host(value, (name,)) for name, value in obj.items()}   # a plain safetensors file
    else:
        header[_STRUCTURE] = json.dumps(encode(obj, arrays))
    header[_CHECKSUM] = _digest(arrays, header.get(_STRUCTURE))
    if metadata is not None:
        try:
            header[_USER] = json.dumps(metadata, sort_keys=True)
        except TypeError as e:
            raise TypeError(f"save: metadata must be JSON-serialisable: {e}") from None
    data = st_save(arrays, metadata=header)
    if hasattr(f, "write"):
        f.write(data)
    else:
        atomic_write(f, data)


def load(f, map_location=None, *, weights_only=None, mmap=None, with_metadata=False):
    """Load what ``save`` wrote from ``f`` (a path or a binary file object): the same nest, its tensors
    as Tensors (and the metadata dict too if ``with_metadata``). A missing, truncated, corrupted or
    foreign file raises a ValueError saying so; a pickle (``torch.save``'s format) is never unpickled.

    PyTorch's keywords: ``map_location`` ('cpu', a device such as 'cuda:0', a dict {saved location: target} or
    a callable (tensor, 'cpu') -> tensor or None). Tensors are saved from the host (device ones copied there),
    so they load on the CPU unless ``map_location`` puts them elsewhere.
    ``weights_only`` is always in effect (nothing is unpickled) and ``mmap`` is accepted, but the file
    is read whole, to check its checksum."""
    for name, flag in (("weights_only", weights_only), ("mmap", mmap)):
        if flag not in (None, True, False):
            raise TypeError(f"load: {name} must be None, True or False, got {flag!r}")
    move = _mover(map_location)
    source = getattr(f, "name", "the file") if hasattr(f, "read") else os.fspath(f)
    if hasattr(f, "read"):
        raw = f.read()
    else:
        with open(source, "rb") as file:
            raw = file.read()
    try:
        arrays, header = _parse(raw)
    except ValueError as e:
        if raw[:4] == b"PK\x03\x04" or raw[:1] == b"\x80":
            raise ValueError(
                f"load: {source} is a pickle (the format of torch.save), and deepgrad does not unpickle: loading "
                f"a pickle can run arbitrary code. Convert it once with PyTorch: state = torch.load(path, "
                f"weights_only=True); deepgrad.save({{k: v.numpy() for k, v in state.items()}}, "
                f"'model.safetensors')") from None
        raise ValueError(f"load: {source} is not a valid safetensors file (truncated, corrupted or another "
                         f"format): {e}") from None
    structure = header.get(_STRUCTURE)
    expected = header.get(_CHECKSUM)
    if expected is not None and expected != _digest(arrays, structure):
        raise ValueError(f"load: {source} is corrupted: its data does not match the checksum in its header")
    tensors = {name: move(Tensor.wrap(a.copy())) for name, a in arrays.items()}
    try:
        obj = tensors if structure is None else decode(json.loads(structure), tensors)
        user = json.loads(header[_USER]) if _USER in header else None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"load: {source} has a malformed deepgrad header ({type(e).__name__}: {e})") from None
    return (obj, user) if with_metadata else obj


def _mover(map_location):
    """tensor -> tensor: where ``map_location`` puts a loaded tensor (all are saved from the CPU)."""
    if map_location is None:
        return lambda t: t
    if callable(map_location):
        def move(t):
            moved = map_location(t, "cpu")
            if moved is not None and not isinstance(moved, Tensor):
                raise TypeError(f"load: map_location returned a {type(moved).__name__}, expected a Tensor or None")
            return t if moved is None else moved
        return move
    device = str(map_location.get("cpu", "cpu") if isinstance(map_location, dict) else map_location)
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"load: map_location {map_location!r} is not a device deepgrad knows ('cpu' or 'cuda')")

    def to_device(t):
        try:
            return t.to(device)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"load: map_location={map_location!r}: {e}") from None
    return to_device


# safetensors dtype codes -> NumPy (little-endian); BF16 is widened to float32 by _parse
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _parse(raw):
    """(name -> array, ``__metadata__``) of a safetensors file's bytes; ValueError saying what is wrong."""
    if len(raw) < 8:
        raise ValueError("file shorter than a safetensors header")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise ValueError("header longer than the file")
    try:
        header = json.loads(bytes(raw[8:8 + n]))
    except ValueError as e:
        raise ValueError(f"the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("the header's __metadata__ is not a map of strings")
    body = memoryview(raw)[8 + n:]
    return {name: _tensor(name, entry, body) for name, entry in header.items()}, meta


def _tensor(name, entry, body):
    """The array a header entry ``{"dtype", "shape", "data_offsets"}`` describes in ``body``."""
    np = backend.numpy
    try:
        code, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not all(isinstance(d, int) and d >= 0 for d in (*shape, start, end)):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"tensor {name!r}: {entry!r} is not a description of a tensor "
                         f"(dtype, shape, data_offsets)") from None
    if code not in _DTYPES:
        raise ValueError(f"tensor {name!r}: unknown dtype {code!r} (known: {', '.join(_DTYPES)})")
    dtype = np.dtype(_DTYPES[code])
    count = int(np.prod(shape, dtype=np.int64))
    if not start <= end <= len(body) or end - start != count * dtype.itemsize:
        raise ValueError(f"tensor {name!r}: data_offsets [{start}, {end}] do not hold {count} {code} values "
                         f"inside the {len(body)} data bytes")
    a = np.frombuffer(body[start:end], dtype).reshape(shape)
    return (a.astype("<u4") << 16).view("<f4") if code == "BF16" else a
