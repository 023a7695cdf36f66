"""Writer and reader for the LLMTNSR1 tensor container (common/tensor_file.h).

Layout (all integers little-endian uint32):
    "LLMTNSR1"                      8-byte magic
    n_tensors
    n_tensors times:
        name_len, name bytes (UTF-8, no NUL)
        ndim (1..4), shape[ndim]
        the float32 values, row-major, little-endian

Tensors may be torch tensors, numpy arrays or anything numpy.asarray accepts;
they are converted to float32. Needs numpy (torch only if you pass tensors).
"""

import os
import struct

import numpy as np

MAGIC = b"LLMTNSR1"
MAX_DIMS = 4


def _to_numpy(value):
    if hasattr(value, "detach"):  # torch.Tensor without importing torch here
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return np.ascontiguousarray(arr, dtype="<f4")


def write_tensor_file(path, tensors):
    """Write an ordered mapping (or list of pairs) name -> tensor to `path`.

    The file is written to a temporary name and renamed into place."""
    items = list(tensors.items()) if hasattr(tensors, "items") else list(tensors)
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("duplicate tensor names")
    chunks = [MAGIC, struct.pack("<I", len(items))]
    for name, value in items:
        arr = _to_numpy(value)
        if not 1 <= arr.ndim <= MAX_DIMS:
            raise ValueError(f"tensor {name!r} has rank {arr.ndim}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"tensor {name!r} has non-finite values")
        encoded = name.encode("utf-8")
        if not 1 <= len(encoded) <= 4096:
            raise ValueError(f"bad name length for {name!r}")
        chunks.append(struct.pack("<I", len(encoded)))
        chunks.append(encoded)
        chunks.append(struct.pack("<I", arr.ndim))
        chunks.append(struct.pack("<%dI" % arr.ndim, *arr.shape))
        chunks.append(arr.tobytes(order="C"))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def read_tensor_file(path):
    """Read `path` back into a dict name -> float32 numpy array (file order)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    pos = 8

    def u32():
        nonlocal pos
        if pos + 4 > len(data):
            raise ValueError(f"{path}: truncated")
        (v,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return v

    out = {}
    for _ in range(u32()):
        name_len = u32()
        name = data[pos:pos + name_len].decode("utf-8")
        pos += name_len
        ndim = u32()
        if not 1 <= ndim <= MAX_DIMS:
            raise ValueError(f"{path}: tensor {name!r} has rank {ndim}")
        shape = tuple(u32() for _ in range(ndim))
        n = int(np.prod(shape))
        if pos + 4 * n > len(data):
            raise ValueError(f"{path}: tensor {name!r} truncated")
        out[name] = np.frombuffer(data, dtype="<f4", count=n, offset=pos).reshape(shape).copy()
        pos += 4 * n
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return out


def check_round_trip(path, tensors):
    """Read `path` back and assert it holds exactly `tensors`, bit for bit."""
    items = list(tensors.items()) if hasattr(tensors, "items") else list(tensors)
    back = read_tensor_file(path)
    if list(back.keys()) != [name for name, _ in items]:
        raise AssertionError("tensor names/order differ after reading back")
    for name, value in items:
        want = _to_numpy(value)
        got = back[name]
        if got.shape != want.shape or got.tobytes() != want.tobytes():
            raise AssertionError(f"tensor {name!r} differs after reading back")
    return back


def describe(path):
    """One line per tensor: name, shape, max |value|."""
    lines = []
    for name, arr in read_tensor_file(path).items():
        lines.append(f"  {name:40s} {str(tuple(arr.shape)):16s} max|v|={np.abs(arr).max():.6g}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        print(f"{p}: {os.path.getsize(p)} bytes")
        print(describe(p))
