"""Small cv2 drawing helpers for the top-down pictures of the deformable tasks.

The framing is the MuJoCo camera ``top`` of :mod:`hiwm.tasks.mujoco_gripper`: the workspace square
[-0.25, 0.25]^2 m fills the image, +x to the right, +y up. Height has no pixel axis in a top-down view,
so it is drawn as brightness (a lifted rope or cloth is lighter) and as the size of the gripper's ring.
Coordinates are drawn with cv2's sub-pixel ``shift`` so small motions still change the image.
"""

from __future__ import annotations

import cv2
import numpy as np

from hiwm.tasks.mujoco_gripper import HALF

SHIFT = 4
TABLE_RGB = (214, 209, 200)
GRIPPER_RGB = (230, 90, 30)


def canvas(size: int) -> np.ndarray:
    return np.full((size, size, 3), TABLE_RGB, np.uint8)


def to_px(xy: np.ndarray, size: int) -> np.ndarray:
    """World xy (..., 2) in metres -> pixel coordinates (..., 2) as floats (column, row)."""
    xy = np.asarray(xy, dtype=np.float64)
    scale = size / (2 * HALF)
    return np.stack([(xy[..., 0] + HALF) * scale, (HALF - xy[..., 1]) * scale], axis=-1)


def fixed(px: np.ndarray) -> np.ndarray:
    """Float pixels (..., 2) -> int32 fixed point for cv2's ``shift``."""
    return np.round(np.asarray(px) * (1 << SHIFT)).astype(np.int32)


def px_len(metres: float, size: int) -> float:
    return metres * size / (2 * HALF)


def lighten(rgb, amount: float) -> tuple[int, int, int]:
    """Blend towards white by ``amount`` in [0, 1]."""
    a = float(np.clip(amount, 0.0, 1.0))
    return tuple(int(round(c + (255 - c) * a)) for c in rgb)


def disc(img: np.ndarray, xy, radius_m: float, rgb, filled: bool = True, min_px: float = 1.0) -> None:
    size = img.shape[0]
    c = tuple(int(v) for v in fixed(to_px(np.asarray(xy)[:2], size)))
    r = int(round(max(px_len(radius_m, size), min_px) * (1 << SHIFT)))
    cv2.circle(img, c, r, rgb, -1 if filled else max(1, size // 96), cv2.LINE_AA, SHIFT)


def segment(img: np.ndarray, a, b, rgb, thickness_px: int) -> None:
    size = img.shape[0]
    pa, pb = fixed(to_px(np.asarray(a)[:2], size)), fixed(to_px(np.asarray(b)[:2], size))
    cv2.line(img, tuple(int(v) for v in pa), tuple(int(v) for v in pb), rgb, thickness_px, cv2.LINE_AA, SHIFT)


def chain(img: np.ndarray, points: np.ndarray, rgb: np.ndarray, thickness_px: int) -> None:
    """points (N, 2+) in metres, rgb (N-1, 3): the segments between consecutive points, one colour each."""
    px = fixed(to_px(np.asarray(points)[:, :2], img.shape[0])).tolist()
    for a, b, c in zip(px[:-1], px[1:], np.asarray(rgb).tolist()):
        cv2.line(img, a, b, c, thickness_px, cv2.LINE_AA, SHIFT)


def gripper(img: np.ndarray, agent: np.ndarray) -> None:
    """agent (4,) = [x, y, z, closed]: a ring that grows with height, filled when closed."""
    radius = 0.010 + 0.1 * max(float(agent[2]), 0.0)
    disc(img, agent[:2], radius, GRIPPER_RGB, filled=bool(agent[3] >= 0.5), min_px=1.5)
    disc(img, agent[:2], 0.003, GRIPPER_RGB, min_px=0.8)  # the centre, where a grasp takes hold
