"""dg.save / dg.load: safetensors round trips of tensors and of nested checkpoints (what torch.save
is used for), atomic writes, PyTorch's load keywords, and clear refusals of bad files and objects."""
import hashlib
import io
import json
import os
import pickle
from collections import Counter

import numpy as np
import pytest
from safetensors.numpy import load_file, save as st_save

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.train import load_checkpoint


def _state():
    return {"w": dg.randn(3, 4), "b": dg.zeros(4, dtype="float64"), "steps": dg.arange(5),
            "mask": dg.tensor([True, False]), "scalar": dg.tensor(2.5), "transposed": dg.randn(3, 2).T}


def test_round_trip_keeps_values_dtypes_and_metadata(tmp_path):
    state = _state()
    path = tmp_path / "m.safetensors"
    dg.save(state, path, metadata={"epoch": 3, "note": "ok"})
    loaded, meta = dg.load(path, with_metadata=True)
    assert set(loaded) == set(state)
    for k, v in state.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())
    assert meta == {"epoch": 3, "note": "ok"}
    assert dg.load(path, with_metadata=False).keys() == state.keys()


def test_loaded_tensors_do_not_share_memory_with_each_other_or_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    dg.save({"a": dg.ones(2)}, path)
    a = dg.load(path)["a"]
    a.array[0] = 5
    assert dg.load(path)["a"].numpy()[0] == 1


def test_model_state_dict_round_trip(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(dg.randn(2, 3))
            self.register_buffer("count", dg.zeros(1))

    a, b = Net(), Net()
    dg.save(a.state_dict(), tmp_path / "net.safetensors")
    b.load_state_dict(dg.load(tmp_path / "net.safetensors"))
    np.testing.assert_array_equal(a.w.numpy(), b.w.numpy())


def test_failed_write_leaves_previous_file_intact_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    dg.save({"a": dg.ones(2)}, path)

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        dg.save({"a": dg.zeros(2)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(dg.load(path)["a"].numpy(), [1, 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    dg.save(_state(), path)
    raw = path.read_bytes()
    for cut in (3, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="not a valid safetensors file"):
            dg.load(path)


def test_flipped_bit_in_data_is_detected_by_checksum(tmp_path):
    path = tmp_path / "m.safetensors"
    dg.save(_state(), path)
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        dg.load(path)


def test_pickle_file_is_refused_without_being_unpickled(tmp_path):
    class Trap:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "ran"),))

    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": Trap()}))
    with pytest.raises(ValueError, match="does not unpickle"):
        dg.load(path)
    assert not (tmp_path / "ran").exists()
    path.write_bytes(b"not a tensor file at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        dg.load(path)


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        dg.save({"a": dg.ones(1)}, tmp_path / "x", metadata={"f": object()})
    with pytest.raises(FileNotFoundError):
        dg.load(tmp_path / "missing.safetensors")


# ---------------------------------------------------------------- nested objects (torch.save's uses)
def _training(optimizer_class, seed, **options):
    dg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = optimizer_class(model.parameters(), **options)
    return model, optimizer, optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


def _steps(model, optimizer, scheduler, start, stop):
    losses = []
    for i in range(start, stop):
        x = dg.tensor(np.random.default_rng(i).normal(size=(16, 3)).astype(np.float32))
        loss = ((model(x) - x.sum(dim=1, keepdim=True).sin()) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("optimizer_class, options", [(optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                                      (optim.Adam, {"lr": 0.01, "amsgrad": True})])
def test_checkpoint_dict_round_trip_resumes_exactly(tmp_path, optimizer_class, options):
    straight = _steps(*_training(optimizer_class, 0, **options), 0, 7)
    model, optimizer, scheduler = _training(optimizer_class, 0, **options)
    before = _steps(model, optimizer, scheduler, 0, 3)
    dg.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "loss": before[-1]}, tmp_path / "ckpt.safetensors")

    model, optimizer, scheduler = _training(optimizer_class, 1, **options)   # other weights: all comes from the file
    ckpt = dg.load(tmp_path / "ckpt.safetensors", map_location="cpu", weights_only=True)
    assert list(ckpt) == ["epoch", "model", "optimizer", "scheduler", "loss"]
    assert ckpt["epoch"] == 3 and type(ckpt["epoch"]) is int and ckpt["loss"] == before[-1]
    assert list(ckpt["optimizer"]["state"]) == [0, 1, 2, 3]   # int keys stay ints
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    assert before + _steps(model, optimizer, scheduler, 3, 7) == straight


def test_nested_file_is_one_plain_safetensors_file_named_by_paths(tmp_path):
    model = nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(dg.ones(1, 2)).sum().backward()
    optimizer.step()
    dg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 1}, tmp_path / "c.st")
    arrays = load_file(str(tmp_path / "c.st"))
    assert sorted(arrays) == ["model.bias", "model.weight", "optimizer.state.0.momentum_buffer",
                              "optimizer.state.1.momentum_buffer"]
    np.testing.assert_array_equal(arrays["model.weight"], model.weight.numpy())


def _typed(value):
    """The structure of a nest with every type spelled out, tensors as (shape, dtype), for comparisons
    (an OrderedDict counts as a dict: it comes back as one, in the same order)."""
    if isinstance(value, dict):
        kind = "Counter" if isinstance(value, Counter) else "dict"
        return kind, [((type(k).__name__, k), _typed(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_typed(v) for v in value]
    if hasattr(value, "numpy"):   # a deepgrad or a torch tensor
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return "tensor", value.shape, value.dtype.str
    return type(value).__name__, value


def _to_numpy(value):
    if isinstance(value, dict):
        return type(value)({k: _to_numpy(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    return value.numpy() if hasattr(value, "numpy") else value


def test_same_structure_as_torch_save_of_a_torch_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 5])
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    ckpt = {"epoch": 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "loss": 0.25, "tag": None, "shape": (3, 4), 2.5: [True, "x"]}
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    buffer.seek(0)
    expected = torch.load(buffer, weights_only=True)

    dg.save(_to_numpy(ckpt), tmp_path / "c.safetensors")
    loaded = dg.load(tmp_path / "c.safetensors")
    assert _typed(loaded) == _typed(expected)
    for k, v in expected["model"].items():
        np.testing.assert_array_equal(loaded["model"][k].numpy(), v.numpy())
    np.testing.assert_array_equal(loaded["optimizer"]["state"][0]["exp_avg_sq"].numpy(),
                                  expected["optimizer"]["state"][0]["exp_avg_sq"].numpy())


def test_key_types_survive(tmp_path):
    obj = {7: "int", "7": "str", 2.5: "float", True: "bool", None: "none", -1: {0: [1, (2, 3)]}}
    dg.save(obj, tmp_path / "k")
    loaded = dg.load(tmp_path / "k")
    assert _typed(loaded) == _typed(obj)
    assert [type(k) for k in loaded] == [int, str, float, bool, type(None), int]


@pytest.mark.parametrize("nested", [False, True])
def test_dtypes_and_0_dim_shapes_survive(tmp_path, nested):
    dtypes = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
    state = {}
    for dtype in dtypes:
        state[dtype] = dg.tensor(np.arange(6).reshape(2, 3).astype(dtype))
        state[f"{dtype}-0d"] = dg.tensor(np.array(1, dtype=dtype))
    dg.save({"s": state} if nested else state, tmp_path / "d")
    loaded = dg.load(tmp_path / "d")
    loaded = loaded["s"] if nested else loaded
    for name, value in state.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape, name
        np.testing.assert_array_equal(loaded[name].numpy(), value.numpy())


def test_bare_tensor_list_scalars_and_numpy_values(tmp_path):
    t = dg.randn(2, 2)
    for obj in (t, [t, dg.zeros(3)], (1, 2.5, float("inf"), "s", None, False), 3, {"a": np.arange(3)}):
        dg.save(obj, tmp_path / "o")
        assert _typed(dg.load(tmp_path / "o")) == _typed(obj)
    np.testing.assert_array_equal(dg.load(tmp_path / "o")["a"].numpy(), [0, 1, 2])
    dg.save([np.float32(0.5), np.int64(3), np.bool_(True)], tmp_path / "o")
    assert _typed(dg.load(tmp_path / "o")) == _typed([0.5, 3, True])   # NumPy scalars become Python numbers


def test_the_same_tensor_twice_is_stored_once_and_comes_back_as_one(tmp_path):
    t, a = dg.randn(3), np.ones(2)
    dg.save({"x": t, "y": [t, a, a], "z": dg.randn(3)}, tmp_path / "s")
    loaded = dg.load(tmp_path / "s")
    assert loaded["y"][0] is loaded["x"] and loaded["y"][1] is loaded["y"][2]
    assert loaded["z"] is not loaded["x"]
    assert sorted(load_file(str(tmp_path / "s"))) == ["x", "y.1", "z"]


def test_colliding_path_names_get_distinct_entries(tmp_path):
    dg.save({"a.b": dg.ones(1), "a": {"b": dg.zeros(1)}}, tmp_path / "c")
    loaded = dg.load(tmp_path / "c")
    assert loaded["a.b"].item() == 1 and loaded["a"]["b"].item() == 0


def test_scheduler_counter_state_round_trips(tmp_path):
    optimizer = optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 2, 4], gamma=0.5)
    dg.save(scheduler.state_dict(), tmp_path / "s")
    other = optim.lr_scheduler.MultiStepLR(optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0), milestones=[9])
    other.load_state_dict(dg.load(tmp_path / "s"))
    assert other.milestones == Counter({2: 2, 4: 1}) and isinstance(other.milestones, Counter)
    with pytest.warns(UserWarning):
        other.step(3)   # the closed form needs Counter.elements()
    assert other.get_last_lr() == [0.25]


def test_corrupted_structure_is_refused(tmp_path):
    path = tmp_path / "c"
    dg.save({"epoch": 3, "w": [dg.ones(2)]}, path)
    raw = path.read_bytes()
    assert b'[\\"epoch\\", 3]' in raw
    path.write_bytes(raw.replace(b'[\\"epoch\\", 3]', b'[\\"epoch\\", 4]'))
    with pytest.raises(ValueError, match="corrupted"):
        dg.load(path)


def test_file_objects_work_like_paths():
    buffer = io.BytesIO()
    dg.save({"a": [dg.arange(3)]}, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(dg.load(buffer)["a"][0].numpy(), [0, 1, 2])


# ---------------------------------------------------------------- refusals
def test_module_optimizer_and_other_objects_are_refused_naming_where(tmp_path):
    model = nn.Linear(2, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"obj is a Module \(Linear\).*model\.state_dict\(\)"):
        dg.save(model, tmp_path / "x")
    with pytest.raises(TypeError, match=r"obj\['opt'\] is an Optimizer \(SGD\).*optimizer\.state_dict\(\)"):
        dg.save({"opt": optimizer}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\], a set"):
        dg.save({"a": [1, {2}]}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"obj\['a'\] has a key of type tuple"):
        dg.save({"a": {(1, 2): 3}}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"obj\['s'\] is an array of dtype <U1"):
        dg.save({"s": np.array(["a"])}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_torch_save_files_are_refused_with_the_way_to_convert(tmp_path):
    torch = pytest.importorskip("torch")
    for zipped in (True, False):
        path = tmp_path / "m.pt"
        torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=zipped)
        with pytest.raises(ValueError, match=r"does not unpickle.*torch\.load.*deepgrad\.save\(\{k: v\.numpy\(\)"):
            dg.load(path)


# ---------------------------------------------------------------- PyTorch's load keywords
def test_map_location_forms_that_mean_the_cpu(tmp_path):
    dg.save({"a": {"b": dg.arange(3)}}, tmp_path / "m")
    torch = pytest.importorskip("torch")
    for where in ("cpu", "cpu:0", torch.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage,
                  lambda storage, loc: None):
        np.testing.assert_array_equal(dg.load(tmp_path / "m", map_location=where)["a"]["b"].numpy(), [0, 1, 2])
    doubled = dg.load(tmp_path / "m", map_location=lambda t, loc: t * 2)
    np.testing.assert_array_equal(doubled["a"]["b"].numpy(), [0, 2, 4])
    for flag in (True, False, None):
        dg.load(tmp_path / "m", weights_only=flag, mmap=flag)


def test_map_location_errors_are_clear(tmp_path):
    dg.save({"a": dg.ones(1)}, tmp_path / "m")
    for where in ("cuda", "cuda:1", {"cpu": "cuda:0"}):
        with pytest.raises(ValueError, match="map_location.*not available"):
            dg.load(tmp_path / "m", map_location=where)
    with pytest.raises(ValueError, match="'mps' is not a device"):
        dg.load(tmp_path / "m", map_location="mps")
    with pytest.raises(TypeError, match="map_location returned a ndarray"):
        dg.load(tmp_path / "m", map_location=lambda t, loc: t.numpy())
    with pytest.raises(TypeError, match="weights_only must be None, True or False"):
        dg.load(tmp_path / "m", weights_only="yes")


# ---------------------------------------------------------------- other readers and older files
def test_flat_file_is_read_by_safetensors_under_the_same_names(tmp_path):
    state = _state()
    state["tied"] = state["w"]   # tied weights: each name keeps its entry, as readers of state_dicts expect
    dg.save(state, tmp_path / "f")
    arrays = load_file(str(tmp_path / "f"))
    assert set(arrays) == set(state)
    for k, v in state.items():
        assert arrays[k].dtype == v.dtype
        np.testing.assert_array_equal(arrays[k], v.numpy())


def _first_format_file(path, arrays, user_metadata):
    """A file as the first ``dg.save`` wrote it: flat tensors, a SHA-256 over sorted names, user metadata."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(f"{name}|{arrays[name].dtype.str}|{arrays[name].shape}|".encode() + arrays[name].tobytes())
    header = {"deepgrad.sha256": h.hexdigest(), "deepgrad.metadata": json.dumps(user_metadata, sort_keys=True)}
    path.write_bytes(st_save(arrays, metadata=header))


def test_file_of_the_first_format_loads(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(4, dtype=np.int64)}
    _first_format_file(tmp_path / "old", arrays, {"epoch": 2})
    loaded, meta = dg.load(tmp_path / "old", with_metadata=True)
    assert meta == {"epoch": 2} and loaded["n"].shape == ()
    np.testing.assert_array_equal(loaded["w"].numpy(), arrays["w"])


def test_checkpoint_of_the_first_format_resumes(tmp_path):
    weight, bias = np.array([[0.5, -1.0]], np.float32), np.array([0.25], np.float32)
    momenta = [np.array([[0.1, 0.2]], np.float32), np.array([0.3], np.float32)]
    state = {"dict": [[i, {"dict": [["momentum_buffer", {"tensor": f"optimizer.state.{i}.momentum_buffer"}]]}]
                      for i in (0, 1)]}
    group = {"dict": [["lr", 0.1], ["momentum", 0.9], ["params", {"list": [0, 1]}]]}
    header = {"format": "deepgrad-checkpoint-1", "metadata": {"epoch": 4},
              "optimizer": {"dict": [["state", state], ["param_groups", {"list": [group]}]]},
              "scheduler": {"dict": [["step_size", 2], ["gamma", 0.5], ["base_lrs", {"list": [0.2]}],
                                     ["last_epoch", 3], ["_step_count", 4], ["_last_lr", {"list": [0.1]}]]}}
    arrays = {"model.weight": weight, "model.bias": bias, "optimizer.state.0.momentum_buffer": momenta[0],
              "optimizer.state.1.momentum_buffer": momenta[1]}
    _first_format_file(tmp_path / "old.safetensors", arrays, header)

    model = nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=7)
    ckpt = load_checkpoint(tmp_path / "old.safetensors")
    ckpt.restore(model, optimizer, scheduler)
    assert ckpt.metadata == {"epoch": 4} and scheduler.last_epoch == 3 and scheduler.step_size == 2
    np.testing.assert_array_equal(model.weight.numpy(), weight)
    model(dg.tensor([[1.0, 1.0]])).sum().backward()   # gradients 1: buffer = 0.9 * m + 1, p -= 0.1 * buffer
    optimizer.step()
    np.testing.assert_allclose(model.weight.numpy(), weight - 0.1 * (0.9 * momenta[0] + 1), rtol=1e-6)
    np.testing.assert_allclose(model.bias.numpy(), bias - 0.1 * (0.9 * momenta[1] + 1), rtol=1e-6)


def test_checkpoint_files_are_plain_nested_saves(tmp_path):
    from deepgrad.train import save_checkpoint
    model = nn.Linear(2, 1)
    optimizer = optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "c.safetensors", model, optimizer, epoch=2, history=[{"loss": 0.5}], shape=(1, 2))
    ckpt, loaded = load_checkpoint(tmp_path / "c.safetensors"), dg.load(tmp_path / "c.safetensors")
    assert loaded["metadata"] == ckpt.metadata == {"epoch": 2, "history": [{"loss": 0.5}], "shape": (1, 2)}
    assert set(loaded) == {"model", "optimizer", "metadata"} and ckpt.scheduler_state is None
    np.testing.assert_array_equal(ckpt.model_state["weight"].numpy(), model.weight.numpy())


# ------------------------------------------------------------ misuse (issue 18)
def _file(header, data=b""):
    """A safetensors file's bytes from a header dict and a data buffer."""
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def _rewrite_header(path, edit):
    """Apply ``edit`` to the JSON header of the file at ``path``, keeping its data (and checksum)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    edit(header)
    path.write_bytes(_file(header, raw[8 + n:]))


def test_bfloat16_tensors_load_as_the_float32_values_torch_holds(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    values = torch.tensor([[1.0, -2.5, 3.140625], [1e-3, 65280.0, -0.0]]).to(torch.bfloat16)
    save_file({"w": values, "f": torch.ones(2)}, str(tmp_path / "bf16.safetensors"))
    loaded = dg.load(tmp_path / "bf16.safetensors")
    assert loaded["w"].dtype == dg.float32 and loaded["w"].shape == (2, 3)
    np.testing.assert_array_equal(loaded["w"].numpy(), values.float().numpy())


@pytest.mark.parametrize("raw", [
    _file([1, 2]),                                                            # not an object
    _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(8)),      # wrong size
    _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 80]}}, bytes(8)),     # past the end
    _file({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),       # unknown dtype
    _file({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)),     # negative shape
    _file({"a": "nope"}),                                                      # not a tensor entry
    _file({"a": {"dtype": "F32"}}),                                            # keys missing
    _file({"__metadata__": {"deepgrad.structure": 3}}),                        # metadata not strings
    _file({"__metadata__": {"deepgrad.structure": '{"tensor": "nope"}'}}),     # names a missing tensor
    _file({"__metadata__": {"deepgrad.structure": '{"nope": 1}'}}),            # unknown entry
    _file({"__metadata__": {"deepgrad.structure": '{"dict": 5}'}}),            # wrong body
    _file({"__metadata__": {"deepgrad.structure": "{not json"}}),
    _file({"__metadata__": {"deepgrad.metadata": "{not json"}}),
    b"\x05\x00\x00\x00\x00\x00\x00\x00\xff\xfe{}}",                              # not UTF-8
])
def test_malformed_headers_are_refused_naming_the_file(tmp_path, raw):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=f"load: {path}"):
        dg.load(path, with_metadata=True)


@pytest.mark.parametrize("edit", [
    lambda h: h.update(a=h["b"], b=h["a"]),                                   # two same-shape tensors' names swapped
    lambda h: h["a"].update(dtype="I32"),                                     # same bytes, another dtype
    lambda h: h["a"].update(shape=[3, 2]),                                    # same bytes, another shape
])
def test_checksum_covers_names_dtypes_and_shapes_not_only_bytes(tmp_path, edit):
    path = tmp_path / "m.safetensors"
    dg.save({"a": dg.arange(6, dtype=dg.float32).reshape(2, 3), "b": -dg.ones(2, 3)}, path)
    _rewrite_header(path, edit)
    with pytest.raises(ValueError, match="corrupted"):
        dg.load(path)


def test_the_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    calls, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", os.path.getsize(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    dg.save({"w": dg.ones(1000)}, tmp_path / "w.safetensors")
    size = (tmp_path / "w.safetensors").stat().st_size
    assert calls == [("fsync", False), ("replace", size), ("fsync", True)]


def test_saved_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        dg.save({"w": dg.ones(2)}, tmp_path / "a")
        os.umask(0o027)
        dg.save({"w": dg.ones(2)}, tmp_path / "b")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o640


def test_a_process_killed_in_the_middle_of_a_save_leaves_the_previous_file(tmp_path):
    """Deterministic, not timed: the second save is bigger than a file-size limit set between the two
    sizes, so the kernel kills the writer (SIGXFSZ) part-way through writing it. An in-place write
    would leave a truncated file; an atomic one leaves the first file whole."""
    import signal
    import subprocess
    import sys
    import textwrap
    path = tmp_path / "model.safetensors"
    script = textwrap.dedent(f"""
        import resource, signal
        import deepgrad as dg
        dg.save({{"w": dg.ones(100_000)}}, {str(path)!r})          # 400 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)              # (Python ignores it)
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, resource.RLIM_INFINITY))
        dg.save({{"w": dg.zeros(200_000)}}, {str(path)!r})
        print("not killed")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=os.getcwd(),
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == -signal.SIGXFSZ, result.stderr.decode()
    np.testing.assert_array_equal(dg.load(path)["w"].numpy(), np.ones(100_000, np.float32))
