"""dg.save / dg.load: safetensors round trips, atomic writes, and clear refusals of bad files."""
import os
import pickle

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn


def _state():
    return {"w": dg.randn(3, 4), "b": dg.zeros(4, dtype="float64"), "steps": dg.arange(5), "mask": dg.tensor([True, False]),
            "scalar": dg.tensor(2.5), "transposed": dg.randn(3, 2).T}


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
    a.data[0] = 5
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
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": np.ones(2)}))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        dg.load(path)


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        dg.save([dg.ones(1)], tmp_path / "x")
    with pytest.raises(TypeError, match="keys must be strings"):
        dg.save({1: dg.ones(1)}, tmp_path / "x")
    with pytest.raises(TypeError, match="JSON"):
        dg.save({"a": dg.ones(1)}, tmp_path / "x", metadata={"f": object()})
    with pytest.raises(FileNotFoundError):
        dg.load(tmp_path / "missing.safetensors")
