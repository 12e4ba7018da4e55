"""builder/pgzip.py: one gzip member, read back by Python's gzip and zlib and by Go's compress/gzip,
with the same bytes for any number of threads and any split of the writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import struct
import subprocess
import tarfile
import zlib

import pytest

from builder import pgzip
from builder.oci.layer import windows_layer
from tests import infra

B = pgzip.BLOCK_SIZE
BOUNDARY_SIZES = [0, 1, pgzip.WINDOW - 1, pgzip.WINDOW, pgzip.WINDOW + 1, B - 1, B, B + 1, 2 * B - 1, 2 * B,
                  2 * B + 1, 3 * B + 12345]


def sample(size: int, seed: int = 0) -> bytes:
    """Compressible bytes whose repeats (every 20011 bytes, under deflate's 32 KiB reach) straddle block
    boundaries: a block decoded against the wrong history would not give them back."""
    rng = random.Random(seed)
    period = rng.randbytes(20011)
    data = bytearray((period * (size // len(period) + 1))[:size])
    for _ in range(size // 4096):  # some changes, so that not every match is a long one
        data[rng.randrange(size)] = rng.randrange(256)
    return bytes(data)


def text_like(size: int) -> bytes:
    rng = random.Random(7)
    words = [rng.randbytes(rng.randrange(2, 9)).hex() for _ in range(3000)]
    out = io.StringIO()
    while out.tell() < size:
        out.write(" ".join(rng.choices(words, k=12)) + f" {rng.randrange(10**6)}\n")
    return out.getvalue().encode()[:size]


def single_member(data: bytes) -> bytes:
    """Decompress with zlib's gzip mode, checking that exactly one member fills the whole stream."""
    reader = zlib.decompressobj(wbits=31)
    content = reader.decompress(data) + reader.flush()
    assert reader.eof, "the deflate stream has no final block"
    assert reader.unused_data == b"", f"{len(reader.unused_data)} bytes after the first member"
    return content


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_python_reads_back_one_member_at_and_around_block_boundaries(size):
    data = sample(size, seed=size)
    compressed = pgzip.compress(data, workers=4)
    assert gzip.decompress(compressed) == data
    assert single_member(compressed) == data
    # RFC 1952: fixed header (no name, MTIME 0, XFL 0 for level 6, OS 255), then CRC32 and ISIZE.
    assert compressed[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert compressed[-8:] == struct.pack("<II", zlib.crc32(data), size)


@pytest.mark.parametrize("block_size", [1000, pgzip.WINDOW, 64 * 1024])
def test_blocks_smaller_than_the_window_and_other_block_sizes(block_size):
    data = sample(5 * block_size + 77, seed=block_size)
    compressed = pgzip.compress(data, workers=3, block_size=block_size)
    assert single_member(compressed) == data
    assert compressed == pgzip.compress(data, workers=1, block_size=block_size)


def test_empty_input_is_an_empty_member():
    compressed = pgzip.compress(b"")
    assert gzip.decompress(compressed) == b""
    assert single_member(compressed) == b""
    # header, one empty final block (RFC 1951 3.2.6: fixed Huffman codes, end-of-block only), CRC 0, ISIZE 0
    assert compressed == pgzip.gzip_header(6) + b"\x03\x00" + bytes(8)


def test_same_bytes_across_runs_thread_counts_and_write_sizes():
    data = sample(3 * B + 4321, seed=1)
    first = pgzip.compress(data, workers=1)
    assert pgzip.compress(data, workers=1) == first
    assert pgzip.compress(data, workers=2) == first
    assert pgzip.compress(data, workers=4) == first
    for workers, chunk in ((4, 1000), (2, 10240), (3, B + 1), (4, 7 * B)):
        out = io.BytesIO()
        with pgzip.ParallelGzipWriter(out, 6, workers=workers) as writer:
            for start in range(0, len(data), chunk):
                writer.write(memoryview(data)[start:start + chunk])
        assert out.getvalue() == first, (workers, chunk)


def test_ratio_close_to_single_stream_gzip_level_6():
    for data in (text_like(3 * 1024 * 1024), sample(2 * 1024 * 1024, seed=3)):
        reference = len(gzip.compress(data, compresslevel=6, mtime=0))
        ours = len(pgzip.compress(data, 6, workers=2))
        assert ours <= reference * 1.02, (ours, reference)
    # Small blocks too: without the previous 32 KiB as dictionary each block would pay the period again.
    data = sample(2 * 1024 * 1024, seed=4)
    reference = len(gzip.compress(data, compresslevel=6, mtime=0))
    assert len(pgzip.compress(data, 6, workers=2, block_size=64 * 1024)) <= reference * 1.02


def test_memory_is_bounded_to_a_few_blocks_in_flight():
    workers = 2
    seen: list[int] = []
    writers: list[pgzip.ParallelGzipWriter] = []

    class Sink(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            seen.extend(len(w._pending) for w in writers)  # none yet while the header is written
            return len(data)

    writer = pgzip.ParallelGzipWriter(Sink(), 6, workers=workers, block_size=pgzip.WINDOW)
    writers.append(writer)
    with writer:
        for _ in range(200):
            writer.write(os.urandom(pgzip.WINDOW))
    assert len(seen) > 100 and max(seen) <= 2 * workers
    assert len(writer._buffer) == 0


def test_an_exception_inside_the_with_block_writes_no_trailer():
    out = io.BytesIO()
    with pytest.raises(RuntimeError), pgzip.ParallelGzipWriter(out, 6, workers=2, block_size=pgzip.WINDOW) as w:
        w.write(sample(5 * pgzip.WINDOW))
        raise RuntimeError("stop")
    assert w.closed
    with pytest.raises(EOFError):
        gzip.decompress(out.getvalue())


def test_bad_arguments_are_refused():
    for kwargs in ({"workers": 0}, {"block_size": 0}):
        with pytest.raises(ValueError):
            pgzip.ParallelGzipWriter(io.BytesIO(), 6, **kwargs)
    with pytest.raises(ValueError):
        pgzip.ParallelGzipWriter(io.BytesIO(), 10)


def test_windows_layer_is_the_same_blob_on_one_core_and_on_four(tmp_path):
    files = {"app/argoexec.exe": sample(B * 2 + 999, seed=9), "app/7za.exe": text_like(B // 3)}
    one = windows_layer(files, tmp_path / "one", workers=1)
    four = windows_layer(files, tmp_path / "four", workers=4)
    assert (one.blob.digest, one.blob.size, one.diff_id) == (four.blob.digest, four.blob.size, four.diff_id)
    compressed = one.blob.path.read_bytes()
    assert "sha256:" + hashlib.sha256(compressed).hexdigest() == one.blob.digest
    content = single_member(compressed)
    assert "sha256:" + hashlib.sha256(content).hexdigest() == one.diff_id
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        assert tar.extractfile("Files/app/argoexec.exe").read() == files["app/argoexec.exe"]


# ---------------------------------------------------------------------------------------------
# Go's reader (what containerd and the registry clients written in Go use)

GO_READER = """package main

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// Reads one gzip member from each file named, prints the content's sha256 and how many bytes follow the member.
func main() {
	for _, name := range os.Args[1:] {
		file, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		buffered := bufio.NewReader(file)
		reader, err := gzip.NewReader(buffered)
		if err != nil {
			fmt.Fprintln(os.Stderr, name, err)
			os.Exit(1)
		}
		reader.Multistream(false)
		sum := sha256.New()
		if _, err := io.Copy(sum, reader); err != nil {
			fmt.Fprintln(os.Stderr, name, err)
			os.Exit(1)
		}
		rest, _ := io.Copy(io.Discard, buffered)
		fmt.Printf("%x %d\\n", sum.Sum(nil), rest)
		file.Close()
	}
}
"""


def require_go() -> str:
    return infra.require_binary("go")


@pytest.mark.integration  # Debian's Go reads the output
def test_go_reads_one_member_with_the_same_content(tmp_path):
    go = require_go()
    program = tmp_path / "reader.go"
    program.write_text(GO_READER)
    cases = {f"size-{size}": sample(size, seed=size) for size in BOUNDARY_SIZES}
    cases["text"] = text_like(B + 5000)
    names = []
    for name, data in cases.items():
        (tmp_path / f"{name}.gz").write_bytes(pgzip.compress(data, workers=2))
        names.append(str(tmp_path / f"{name}.gz"))
    # No network and nothing outside tmp_path: local build cache and GOPATH, no module proxy.
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "GOPATH": str(tmp_path / "gopath"),
           "GOPROXY": "off", "GOFLAGS": "", "GO111MODULE": "on", "CGO_ENABLED": "0"}
    result = subprocess.run([go, "run", str(program), *names], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [f"{hashlib.sha256(data).hexdigest()} 0" for data in cases.values()]
