"""Downloading dataset files: mirrors, checksums, resumable and atomic writes, urllib only.

``download_file(urls, path, md5=..., sha256=...)`` fetches ``path`` from the first mirror that works.
The bytes go to ``path + '.part'``; an existing ``.part`` (an interrupted download) is resumed with an
HTTP ``Range`` request (a server that ignores it sends the whole file, which then replaces the part).
When the transfer is complete the checksum is verified: on a match the part is flushed, fsync'ed and
renamed onto ``path`` in one step (so ``path`` is either absent or complete and verified); on a mismatch
the part is deleted and the next mirror is tried. A file already at ``path`` with the right checksum
is not downloaded again.
"""
import hashlib
import os
import sys

from ..serialization import fsync_dir

CHUNK = 1 << 16
USER_AGENT = "deepgrad-data/0.1 (+urllib)"


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected checksum; the message lists each attempt."""


def file_digest(path, algorithm="md5"):
    """The hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm, usedforsecurity=False)     # a checksum, not security (works under FIPS)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path, md5=None, sha256=None):
    """True when ``path`` exists and matches every given checksum."""
    if not os.path.isfile(path):
        return False
    if md5 is not None and file_digest(path, "md5") != md5.lower():
        return False
    if sha256 is not None and file_digest(path, "sha256") != sha256.lower():
        return False
    return True


def _fetch(url, part, timeout, log):
    """Bring ``part`` up to the full size of ``url``, resuming what is already there."""
    import urllib.error
    import urllib.request
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:      # nothing left to fetch: the part may be complete, the checksum decides
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if have and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                raise OSError(f"the server answered the range request with Content-Range {content_range!r}")
            mode = "ab"
            log(f"resuming {url} at byte {have}")
        else:
            mode = "wb"                  # a full response: start over
            have = 0
        length = response.headers.get("Content-Length")
        expected = None if length is None else have + int(length)
        with open(part, mode) as f:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
    size = os.path.getsize(part)
    if expected is not None and size != expected:
        raise OSError(f"transfer incomplete: {size} of {expected} bytes (run again to resume)")


def download_file(urls, path, md5=None, sha256=None, timeout=60, quiet=False):
    """Download ``path`` from the first of ``urls`` (mirrors of the same file) that delivers it with the
    expected ``md5`` / ``sha256`` hex digest; resumable and atomic (see the module docstring). Returns
    ``path``. Raises ``DownloadError`` listing each mirror's failure."""
    if isinstance(urls, str):
        urls = [urls]
    path = os.fspath(path)
    if md5 is None and sha256 is None:
        raise ValueError("download_file: give an md5 or sha256 checksum to verify the file against")
    if check_file(path, md5, sha256):
        return path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    part = path + ".part"
    log = (lambda msg: None) if quiet else (lambda msg: print(f"deepgrad.data: {msg}", file=sys.stderr))
    failures = []
    for url in urls:
        log(f"downloading {url} -> {path}")
        try:
            _fetch(url, part, timeout, log)
        except Exception as e:   # network errors, HTTP errors, short transfers: keep the part, try the next mirror
            failures.append(f"{url}: {type(e).__name__}: {e}")
            continue
        if check_file(part, md5, sha256):
            os.replace(part, path)
            fsync_dir(folder)
            return path
        got = file_digest(part, "md5" if md5 is not None else "sha256")
        os.unlink(part)             # a wrong payload is never kept (nor resumed from)
        failures.append(f"{url}: checksum mismatch (expected {md5 or sha256}, got {got}); the file was deleted")
    raise DownloadError(f"could not download {os.path.basename(path)} to {folder}:\n  " + "\n  ".join(failures))
