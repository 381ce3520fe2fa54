"""Feature declarations of a hiwm dataset and how each kind of feature is stored in Arrow.

A feature is declared LeRobot style, ``name -> {"dtype", "shape", "names"}``. Supported dtypes:

* numeric: ``float32``, ``float64``, ``int64``, ``int32``, ``int16``, ``int8``, ``uint8``, ``bool``
  - shape ``(1,)`` is a scalar: stored as a plain column, read back as ``(T,)``
  - any other shape is stored flattened in a fixed-size list column, read back as ``(T, *shape)``
* ``string``: one string per frame (shape ``(1,)``)
* ``image``: ``(H, W, 3)`` uint8 RGB, embedded as PNG bytes in a ``struct{bytes, path}`` column, the
  way LeRobot embeds images when it does not use videos.

Every dataset also has LeRobot's default columns (``timestamp``, ``frame_index``, ``episode_index``,
``index``, ``task_index``); the writer fills them in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from hiwm.errors import DatasetError

NUMERIC_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
DTYPES = NUMERIC_DTYPES + ("string", "image")

DEFAULT_FEATURES: dict[str, dict] = {
    "timestamp": {"dtype": "float32", "shape": (1,), "names": None},
    "frame_index": {"dtype": "int64", "shape": (1,), "names": None},
    "episode_index": {"dtype": "int64", "shape": (1,), "names": None},
    "index": {"dtype": "int64", "shape": (1,), "names": None},
    "task_index": {"dtype": "int64", "shape": (1,), "names": None},
}
# Always computed by the writer; values passed in are ignored (so an episode read from one dataset
# can be written straight into another).
WRITER_COLUMNS = ("frame_index", "episode_index", "index", "task_index")

SOURCES = ("expert", "play", "policy", "operator")
PROVENANCE_FEATURES: dict[str, dict] = {
    "intervention": {"dtype": "bool", "shape": (1,), "names": None},
    "source": {"dtype": "string", "shape": (1,), "names": None},
    "node_id": {"dtype": "int64", "shape": (1,), "names": None},
    "parent_node_id": {"dtype": "int64", "shape": (1,), "names": None},
    "branch_id": {"dtype": "int64", "shape": (1,), "names": None},
    "wm_checkpoint": {"dtype": "string", "shape": (1,), "names": None},
}


def _done_default(T: int) -> np.ndarray:
    done = np.zeros(T, dtype=bool)
    done[-1] = True
    return done


# Declared features that may be left out of an episode, and what fills them (T -> column).
# `source` has no default on purpose: where a frame came from must be stated, not guessed.
FRAME_DEFAULTS = {
    "intervention": lambda T: np.zeros(T, dtype=bool),
    "node_id": lambda T: np.full(T, -1, dtype=np.int64),
    "parent_node_id": lambda T: np.full(T, -1, dtype=np.int64),
    "branch_id": lambda T: np.zeros(T, dtype=np.int64),
    "wm_checkpoint": lambda T: np.full(T, "", dtype=object),
    "next.done": _done_default,
}


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    shape: tuple[int, ...]
    names: Any = None

    @property
    def is_image(self) -> bool:
        return self.dtype == "image"

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    @property
    def is_numeric(self) -> bool:
        return self.dtype in NUMERIC_DTYPES

    @property
    def is_scalar(self) -> bool:
        return self.shape == (1,) and not self.is_image

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "names": self.names}

    def arrow_type(self) -> pa.DataType:
        if self.is_image:
            return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        if self.is_string:
            return pa.string()
        scalar = pa.from_numpy_dtype(np.dtype(self.dtype))
        return scalar if self.is_scalar else pa.list_(scalar, self.size)

    # ---- writing ----
    def check(self, value: Any, T: int) -> np.ndarray:
        """One episode's column -> validated array: (T,) for scalars and strings, else (T, *shape)."""
        if self.is_string:
            return self._check_strings(value, T)
        arr = np.asarray(value)
        if self.is_image:
            if arr.shape != (T, *self.shape) or arr.dtype != np.uint8:
                raise DatasetError(f"frame column '{self.name}': expected uint8 {(T, *self.shape)}, "
                                   f"got {arr.dtype} {arr.shape}")
            return arr
        if arr.ndim == 0 and self.is_scalar:
            arr = np.full(T, arr)
        if self.is_scalar and arr.shape == (T, 1):
            arr = arr[:, 0]
        want = (T,) if self.is_scalar else (T, *self.shape)
        if arr.shape != want:
            raise DatasetError(f"frame column '{self.name}': expected shape {want}, got {arr.shape}")
        return self._cast(arr)

    def _check_strings(self, value: Any, T: int) -> np.ndarray:
        if isinstance(value, str):
            value = [value] * T
        vals = list(np.asarray(value, dtype=object).reshape(-1)) if not isinstance(value, list) else value
        if len(vals) != T:
            raise DatasetError(f"frame column '{self.name}': expected {T} strings, got {len(vals)}")
        if not all(isinstance(v, str) for v in vals):
            raise DatasetError(f"frame column '{self.name}': every value must be a str")
        return np.asarray(vals, dtype=object)

    def _cast(self, arr: np.ndarray) -> np.ndarray:
        target = np.dtype(self.dtype)
        if arr.dtype.kind in "OUSV":
            raise DatasetError(f"frame column '{self.name}': expected numbers, got {arr.dtype}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise DatasetError(f"frame column '{self.name}': contains NaN or inf")
        out = arr.astype(target)
        # Refuse silent value changes (0.5 -> True, 1.7 -> 1); float64 -> float32 rounding is fine.
        if target.kind in "biu" and not np.array_equal(out, arr):
            raise DatasetError(f"frame column '{self.name}': values do not fit dtype {self.dtype}")
        return out

    def to_arrow(self, arr: np.ndarray) -> pa.Array:
        """A column from ``check`` -> Arrow array of ``arrow_type()``."""
        if self.is_image:
            pngs = [encode_png(img) for img in arr]
            return pa.StructArray.from_arrays(
                [pa.array(pngs, pa.binary()), pa.nulls(len(pngs), pa.string())], names=["bytes", "path"])
        if self.is_string:
            return pa.array(list(arr), pa.string())
        if self.is_scalar:
            return pa.array(arr)
        return pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), self.size)

    # ---- reading ----
    def from_arrow(self, col: pa.ChunkedArray | pa.Array, decode_images: bool = True) -> np.ndarray:
        """Arrow column -> (T,) / (T, *shape) array; strings as str, images (T, H, W, 3) uint8 (or PNG bytes)."""
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        T = len(arr)
        if self.is_image:
            pngs = arr.flatten()[0].to_pylist()  # flatten() honours slice offsets, .field() does not
            if not decode_images:
                raw = np.empty(T, dtype=object)
                raw[:] = pngs
                return raw
            out = np.empty((T, *self.shape), dtype=np.uint8)
            for i, b in enumerate(pngs):
                out[i] = decode_png(b, self)
            return out
        if self.is_string:
            return np.asarray(arr.to_pylist(), dtype=str)
        if self.is_scalar:
            return arr.to_numpy(zero_copy_only=False).astype(self.dtype, copy=False)
        flat = arr.flatten().to_numpy(zero_copy_only=False).astype(self.dtype, copy=False)
        return flat.reshape(T, *self.shape)


def encode_png(img: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError(f"could not encode an image of shape {img.shape} as PNG")
    return buf.tobytes()


def decode_png(data: bytes | None, feature: Feature) -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8 RGB, checked against the declared shape."""
    img = None if data is None else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape != feature.shape:
        raise DatasetError(f"column '{feature.name}': an image is not a valid {feature.shape} PNG")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def parse_feature(name: str, spec: Any) -> Feature:
    if not isinstance(spec, dict) or "dtype" not in spec:
        raise DatasetError(f"feature '{name}': expected a dict with 'dtype' and 'shape', got {spec!r}")
    dtype = spec["dtype"]
    if dtype not in DTYPES:
        raise DatasetError(f"feature '{name}': unsupported dtype {dtype!r} (supported: {', '.join(DTYPES)})")
    try:
        shape = tuple(int(s) for s in spec.get("shape", (1,))) or (1,)
    except (TypeError, ValueError):
        raise DatasetError(f"feature '{name}': shape must be a list of ints, got {spec.get('shape')!r}") from None
    if any(s < 1 for s in shape):
        raise DatasetError(f"feature '{name}': shape must be positive, got {shape}")
    if dtype == "image" and (len(shape) != 3 or shape[2] != 3):
        raise DatasetError(f"feature '{name}': images must have shape (H, W, 3), got {shape}")
    if dtype == "string" and shape != (1,):
        raise DatasetError(f"feature '{name}': string features hold one string per frame (shape (1,)), got {shape}")
    return Feature(name, dtype, shape, spec.get("names"))


def parse_features(features: dict) -> dict[str, Feature]:
    """User declarations -> {name: Feature}, default columns first (a clash with them is an error)."""
    if not isinstance(features, dict):
        raise DatasetError(f"features must be a dict of name -> spec, got {type(features).__name__}")
    out = {name: parse_feature(name, spec) for name, spec in DEFAULT_FEATURES.items()}
    for name, spec in features.items():
        if not isinstance(name, str) or not name:
            raise DatasetError(f"feature names must be non-empty strings, got {name!r}")
        feat = parse_feature(name, spec)
        if name in out and (out[name].dtype, out[name].shape) != (feat.dtype, feat.shape):
            raise DatasetError(f"feature '{name}' is a default column ({out[name].dtype} {out[name].shape}); "
                               "it cannot be redeclared")
        out.setdefault(name, feat)
    return out


def standard_features(state_dim: int, action_dim: int, env_dim: int | None = None,
                      image_size: int | None = None, provenance: bool = True) -> dict[str, dict]:
    """The usual hiwm declaration: state, optional env state and image, action, next.*, provenance."""
    f: dict[str, dict] = {"observation.state": {"dtype": "float32", "shape": (state_dim,), "names": None}}
    if env_dim:
        f["observation.environment_state"] = {"dtype": "float32", "shape": (env_dim,), "names": None}
    if image_size:
        f["observation.image"] = {"dtype": "image", "shape": (image_size, image_size, 3),
                                  "names": ["height", "width", "channels"]}
    f["action"] = {"dtype": "float32", "shape": (action_dim,), "names": None}
    f["next.reward"] = {"dtype": "float32", "shape": (1,), "names": None}
    f["next.done"] = {"dtype": "bool", "shape": (1,), "names": None}
    f["next.success"] = {"dtype": "bool", "shape": (1,), "names": None}
    if provenance:
        f.update({k: dict(v) for k, v in PROVENANCE_FEATURES.items()})
    return f
