"""What verifying data-file checksums adds to loading a dataset, and to writing one.

    python benchmarks/dataset_checksum.py [--episodes 40] [--frames 150] [--image 96] [--repeats 15]

Writes a synthetic Push-T-shaped dataset (state 2, environment state 16, action 2, provenance, and a
camera frame of --image pixels, PNG-embedded; --image 0 for none), then times what a training run does
to load it (open the dataset, read every numeric and image column, as EpisodeWindows does) with its
checksums, and on a copy whose checksums are dropped (as a dataset written before them: nothing is
verified), interleaved. The difference is the cost of hashing. Also reports plain sha256 throughput here.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features


def write(root: Path, episodes: int, frames: int, image: int) -> float:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with DatasetWriter.create(root, 10, standard_features(2, 2, env_dim=16, image_size=image or None)) as w:
        for _ in range(episodes):
            ep = {"observation.state": rng.uniform(0, 512, (frames, 2)).astype(np.float32),
                  "observation.environment_state": rng.uniform(0, 512, (frames, 16)).astype(np.float32),
                  "action": rng.uniform(0, 512, (frames, 2)).astype(np.float32),
                  "next.reward": rng.random(frames).astype(np.float32), "next.success": np.zeros(frames, bool),
                  "source": "expert"}
            if image:  # smooth images, so PNG compresses them about as much as rendered frames
                base = rng.integers(0, 256, (frames, 1, 1, 3), dtype=np.uint8)
                ep["observation.image"] = np.broadcast_to(base, (frames, image, image, 3)).copy()
                ep["observation.image"][:, ::7, ::5] = 255
            w.add_episode(ep, task="push the T")
    return time.perf_counter() - t0


def load(root: Path) -> float:
    t0 = time.perf_counter()
    ds = LeRobotDataset(root)
    for name, f in ds.features.items():
        if f.is_numeric or f.is_image:
            ds.column(name, decode_images=False)
    return time.perf_counter() - t0


def drop_checksums(root: Path) -> None:
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["data/sha256"]), path)
    (root / "meta/.pending_data.json").unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--image", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        wrote = write(root, a.episodes, a.frames, a.image)
        size = sum(p.stat().st_size for p in (root / "data").rglob("*.parquet"))
        legacy = Path(tmp) / "legacy"
        shutil.copytree(root, legacy)
        drop_checksums(legacy)
        load(root), load(legacy)  # warm-up (imports, page cache)
        checked, plain = [], []
        for _ in range(a.repeats):  # interleaved, so drift on a shared machine hits both alike
            checked.append(load(root))
            plain.append(load(legacy))
        blob = b"\0" * (64 << 20)
        t0 = time.perf_counter()
        hashlib.sha256(blob).hexdigest()
        rate = len(blob) / (time.perf_counter() - t0) / 2**20
    c, p = statistics.median(checked), statistics.median(plain)
    print(f"dataset: {a.episodes} episodes x {a.frames} frames, image {a.image}: {size / 2**20:.1f} MB of data files "
          f"(written in {wrote:.2f} s)")
    print(f"load + read every column: {1e3 * c:.1f} ms with checksums, {1e3 * p:.1f} ms without "
          f"(+{1e3 * (c - p):.1f} ms, median of {a.repeats}); sha256 here: {rate:.0f} MB/s")


if __name__ == "__main__":
    main()
