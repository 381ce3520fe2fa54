"""LeRobotDataset v3.0 writer/reader: round trips, appends, roll-over, crashes, corruption, stats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features
from hiwm.errors import DatasetError

FPS = 15
IMG = 8
FEATURES = {
    **standard_features(state_dim=3, action_dim=2, env_dim=4, image_size=IMG),
    "grid": {"dtype": "int32", "shape": (2, 2), "names": None},
    "gain": {"dtype": "float64", "shape": (1,), "names": None},
    "label": {"dtype": "string", "shape": (1,), "names": None},
}


def make_episode(seed: int, T: int | None = None) -> dict:
    """A deterministic episode (so a subprocess and the test agree on its content)."""
    rng = np.random.default_rng(seed)
    T = T or int(rng.integers(3, 12))
    return {
        "observation.state": rng.normal(size=(T, 3)).astype(np.float32),
        "observation.environment_state": (1e4 + rng.normal(size=(T, 4))).astype(np.float32),
        "observation.image": rng.integers(0, 256, (T, IMG, IMG, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (T, 2)).astype(np.float32),
        "next.reward": rng.normal(size=T).astype(np.float32),
        "next.success": rng.random(T) < 0.3,
        "intervention": rng.random(T) < 0.5,
        "source": list(rng.choice(["expert", "play", "policy", "operator"], T)),
        "node_id": rng.integers(0, 100, T),
        "parent_node_id": np.full(T, -1),
        "branch_id": np.full(T, seed),
        "wm_checkpoint": f"ckpt-{seed}",
        "grid": rng.integers(-5, 5, (T, 2, 2)),
        "gain": rng.normal(size=T),
        "label": [f"f{i}" for i in range(T)],
    }


def write(root: Path, seeds, **kw) -> None:
    with DatasetWriter.create(root, FPS, FEATURES, **kw) as w:
        for s in seeds:
            w.add_episode(make_episode(s), task=f"task {s % 2}", meta={"seed": s, "success": s % 3 == 0})


def assert_episode_equal(got: dict, want: dict) -> None:
    for k, v in want.items():
        expected = np.asarray(v)
        if expected.ndim == 0:  # a broadcast scalar
            expected = np.full(len(got["index"]), expected)
        np.testing.assert_array_equal(got[k], expected.astype(got[k].dtype), err_msg=k)


def test_round_trip_all_dtypes(tmp_path):
    root = tmp_path / "ds"
    write(root, [0, 1, 2])
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.fps, ds.tasks) == (3, FPS, ["task 0", "task 1"])
    starts = 0
    for i, s in enumerate([0, 1, 2]):
        ep, want = ds.episode(i), make_episode(s)
        T = len(want["action"])
        assert_episode_equal(ep, want)
        assert ep["observation.image"].dtype == np.uint8 and ep["observation.image"].shape == (T, IMG, IMG, 3)
        assert ep["grid"].shape == (T, 2, 2) and ep["grid"].dtype == np.int32
        np.testing.assert_array_equal(ep["frame_index"], np.arange(T))
        np.testing.assert_array_equal(ep["index"], np.arange(starts, starts + T))
        np.testing.assert_allclose(ep["timestamp"], np.arange(T) / FPS, rtol=1e-6)
        assert (ep["episode_index"] == i).all() and (ep["task_index"] == s % 2).all()
        assert ep["next.done"].tolist() == [False] * (T - 1) + [True]  # default filled in
        meta = ds.episodes[i]
        assert (meta["length"], meta["dataset_from_index"], meta["dataset_to_index"]) == (T, starts, starts + T)
        assert (meta["seed"], meta["success"], meta["tasks"]) == (s, s % 3 == 0, [f"task {s % 2}"])
        starts += T
    assert ds.num_frames == starts
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_frames"] == starts and info["total_tasks"] == 2
    assert info["features"]["observation.image"]["dtype"] == "image"
    assert (root / "data/chunk-000/file-000.parquet").is_file()
    # images are embedded PNGs in a LeRobot-style struct column
    schema = pq.read_schema(root / "data/chunk-000/file-000.parquet")
    assert [f.name for f in schema.field("observation.image").type] == ["bytes", "path"]


def test_column_fast_path_matches_episodes(tmp_path):
    root = tmp_path / "ds"
    write(root, [3, 4, 5], data_files_size_in_mb=1e-3)  # several files
    ds = LeRobotDataset(root)
    for key in ("action", "source", "grid", "intervention", "index"):
        np.testing.assert_array_equal(ds.column(key), np.concatenate([ds.episode(i)[key] for i in range(3)]))
    raw = ds.column("observation.image")
    assert raw.dtype == object and raw.shape == (ds.num_frames,) and isinstance(raw[0], bytes)
    decoded = ds.column("observation.image", decode_images=True)
    np.testing.assert_array_equal(decoded, np.concatenate([make_episode(s)["observation.image"] for s in (3, 4, 5)]))
    with pytest.raises(DatasetError, match="no feature 'nope'"):
        ds.column("nope")


def test_stats_match_numpy_and_survive_appends(tmp_path):
    root = tmp_path / "ds"
    write(root, [0, 1])
    with DatasetWriter.open(root) as w:  # a second session appends without rereading frames
        assert w.num_episodes == 2
        for s in (2, 3):
            assert w.add_episode(make_episode(s), task="task new") == s
    ds = LeRobotDataset(root)
    assert ds.num_episodes == 4 and ds.tasks == ["task 0", "task 1", "task new"]
    np.testing.assert_array_equal(ds.column("index"), np.arange(ds.num_frames))
    eps = [make_episode(s) for s in range(4)]
    for key in ("observation.state", "observation.environment_state", "action", "next.reward", "gain", "grid",
                "intervention"):
        x = np.concatenate([np.asarray(e[key]) for e in eps]).astype(np.float32 if key != "gain" else np.float64)
        x = x.astype(np.float64).reshape(len(x), *ds.features[key].shape)
        s = ds.stats[key]
        np.testing.assert_allclose(s["mean"], x.mean(0), rtol=1e-9, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(s["std"], x.std(0), rtol=1e-7, atol=1e-12, err_msg=key)
        np.testing.assert_array_equal(s["min"], x.min(0))
        np.testing.assert_array_equal(s["max"], x.max(0))
        assert s["count"].tolist() == [len(x)]
    img = np.concatenate([e["observation.image"] for e in eps]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(ds.stats["observation.image"]["mean"].reshape(3), img.mean(0), rtol=1e-10)
    np.testing.assert_allclose(ds.stats["observation.image"]["std"].reshape(3), img.std(0), rtol=1e-8)
    assert "source" not in ds.stats  # strings have no stats


def test_file_roll_over_by_size_count_and_chunk(tmp_path):
    root = tmp_path / "ds"
    write(root, range(5), max_episodes_per_file=2, chunks_size=2)
    files = sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.parquet"))
    assert files == ["data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet",
                     "data/chunk-001/file-000.parquet"]
    ds = LeRobotDataset(root)
    assert [(e["data/chunk_index"], e["data/file_index"]) for e in ds.episodes] == [(0, 0), (0, 0), (0, 1), (0, 1), (1, 0)]
    for i in range(5):
        assert_episode_equal(ds.episode(i), make_episode(i))

    small = tmp_path / "small"
    write(small, range(3), data_files_size_in_mb=1e-4)  # every episode is bigger than the limit
    assert len(list((small / "data").rglob("*.parquet"))) == 3
    assert LeRobotDataset(small).num_episodes == 3


BAD_EPISODES = {
    "wrong length": (lambda e: e.update(action=e["action"][:-1]), "differ in length"),
    "undeclared": (lambda e: e.update(extra=np.zeros(len(e["action"]))), "not declared"),
    "missing": (lambda e: e.pop("observation.state"), "'observation.state' is missing"),
    "bad source": (lambda e: e.update(source="human"), "not in"),
    "nan": (lambda e: e["action"].__setitem__((0, 0), np.nan), "NaN"),
    "image dtype": (lambda e: e.update({"observation.image": e["observation.image"].astype(np.float32)}), "uint8"),
    "bool from float": (lambda e: e.update(intervention=np.full(len(e["action"]), 0.5)), "do not fit"),
}


@pytest.mark.parametrize("case", list(BAD_EPISODES))
def test_bad_episode_raises_before_writing(tmp_path, case):
    root = tmp_path / "ds"
    write(root, [0])
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    mutate, msg = BAD_EPISODES[case]
    ep = make_episode(1)
    mutate(ep)
    with DatasetWriter.open(root) as w, pytest.raises(DatasetError, match=msg) as err:
        w.add_episode(ep, task="t")
    assert "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("meta, msg", [({"x": [1, 2]}, "JSON-safe"), ({"length": 3}, "reserved"),
                                       ({"seed": "zero"}, "incompatible types")])
def test_bad_episode_meta_raises(tmp_path, meta, msg):
    root = tmp_path / "ds"
    write(root, [0])  # episode 0 has an int 'seed'
    with DatasetWriter.open(root) as w, pytest.raises(DatasetError, match=msg):
        w.add_episode(make_episode(1), task="t", meta=meta)
    assert LeRobotDataset(root).num_episodes == 1


def test_empty_dataset_then_append(tmp_path):
    root = tmp_path / "ds"
    DatasetWriter.create(root, FPS, FEATURES).close()
    ds = LeRobotDataset(root)
    assert (ds.num_episodes, ds.num_frames, ds.episodes, ds.stats) == (0, 0, [], {})
    assert ds.column("action").shape == (0, 2)
    assert ds.column("observation.image", decode_images=True).shape == (0, IMG, IMG, 3)
    with DatasetWriter.open(root) as w:
        w.add_episode(make_episode(0), task="t")
    assert_episode_equal(LeRobotDataset(root).episode(0), make_episode(0))


def test_one_writer_at_a_time_and_no_overwrite(tmp_path):
    root = tmp_path / "ds"
    write(root, [0])
    with DatasetWriter.open(root):
        with pytest.raises(DatasetError, match="another DatasetWriter"):
            DatasetWriter.open(root)
    with pytest.raises(DatasetError, match="use DatasetWriter.open"):
        DatasetWriter.create(root, FPS, FEATURES)
    with pytest.raises(DatasetError, match="not a LeRobot dataset"):
        DatasetWriter.open(tmp_path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIONS = {
    "no info": ("meta/info.json", lambda p: p.unlink(), "not a LeRobot dataset"),
    "info truncated": ("meta/info.json", _truncate, "corrupt or truncated JSON"),
    "info version": ("meta/info.json", lambda p: p.write_text(p.read_text().replace('"v3.0"', '"v2.1"')), "not supported"),
    "stats truncated": ("meta/stats.json", _truncate, "corrupt or truncated JSON"),
    "tasks truncated": ("meta/tasks.parquet", _truncate, "corrupt or truncated parquet"),
    "episodes truncated": ("meta/episodes/chunk-000/file-000.parquet", _truncate, "corrupt or truncated parquet"),
    "episodes missing": ("meta/episodes/chunk-000/file-000.parquet", lambda p: p.unlink(), "missing"),
    "data truncated": ("data/chunk-000/file-001.parquet", _truncate, "corrupt or truncated parquet"),
    "data missing": ("data/chunk-000/file-000.parquet", lambda p: p.unlink(), "missing"),
    "data garbage": ("data/chunk-000/file-000.parquet", lambda p: p.write_bytes(b"not parquet"), "corrupt"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_file_raises_one_line_naming_it(tmp_path, case):
    root = tmp_path / "ds"
    write(root, [0, 1, 2], max_episodes_per_file=2)
    rel, corrupt, msg = CORRUPTIONS[case]
    corrupt(root / rel)
    with pytest.raises(DatasetError, match=msg) as err:
        LeRobotDataset(root)
    text = str(err.value)
    assert "\n" not in text and (rel in text or case == "no info"), text


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        LeRobotDataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="not a LeRobot dataset"):
        LeRobotDataset(tmp_path)


def test_data_file_with_wrong_rows_is_caught(tmp_path):
    root = tmp_path / "ds"
    write(root, [0, 1], max_episodes_per_file=1)
    a, b = root / "data/chunk-000/file-000.parquet", root / "data/chunk-000/file-001.parquet"
    assert pq.read_metadata(a).num_rows > pq.read_metadata(b).num_rows
    b.write_bytes(a.read_bytes())  # another file's frames: the footer is fine and long enough
    with pytest.raises(DatasetError, match="file-001.parquet: checksum mismatch"):
        LeRobotDataset(root).episode(1)
    drop_checksums(root)  # a dataset from before checksums: the index column still gives it away
    ds = LeRobotDataset(root)
    with pytest.raises(DatasetError, match="'index' column does not match"):
        ds.episode(1)
    with pytest.raises(DatasetError, match="'index' column does not match"):
        ds.column("action")


def drop_checksums(root: Path) -> None:
    """Make ``root`` look written before data checksums existed (no data/sha256, no pending record)."""
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["data/sha256"]), path)
    (root / "meta/.pending_data.json").unlink()


# ---- crash safety: a real process is killed while writing ----

CRASH_POINTS = {1: 2, 2: 2, 3: 2, 4: 2, 5: 3, 6: 3}  # die before this rename of episode 2 -> episodes kept

# One interpreter start for all crash points: each scenario runs in a forked child that really dies
# (os._exit) just before the chosen rename while writing its third episode.
CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from test_lerobot import CRASH_POINTS, FEATURES, FPS, make_episode
from hiwm.data import DatasetWriter

def scenario(root, crash_at):
    real_replace, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += 1
        if calls[0] == crash_at:
            os._exit(17)
        real_replace(src, dst)
    with DatasetWriter.create(root, FPS, FEATURES) as w:
        w.add_episode(make_episode(0), task="task 0")
        w.add_episode(make_episode(1), task="task 0")
        os.replace = replace
        w.add_episode(make_episode(2), task="a new task")  # renames: pending checksum, data, tasks, episodes, stats, info
    os._exit(0)

for crash_at in CRASH_POINTS:
    pid = os.fork()
    if pid == 0:
        scenario(Path(sys.argv[1]) / f"crash{crash_at}", crash_at)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def _run(script: str, *args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], env=env, **kw)


def _check_readable_and_resumable(root: Path, n_expected: int | None = None, T: int | None = None) -> int:
    ds = LeRobotDataset(root)
    n = ds.num_episodes
    if n_expected is not None:
        assert n == n_expected
    for i in range(n):
        assert_episode_equal(ds.episode(i), make_episode(i, T))
    with DatasetWriter.open(root) as w:  # resumes: temp files gone, meta repaired, appends continue
        assert not list(root.rglob(".*.tmp"))
        w.add_episode(make_episode(n, T), task="task 0")
    ds = LeRobotDataset(root)
    assert ds.num_episodes == n + 1 and json.loads((root / "meta/info.json").read_text())["total_episodes"] == n + 1
    np.testing.assert_array_equal(ds.column("index"), np.arange(ds.num_frames))
    assert_episode_equal(ds.episode(n), make_episode(n, T))
    x = np.concatenate([make_episode(i, T)["action"] for i in range(n + 1)]).astype(np.float64)
    np.testing.assert_allclose(ds.stats["action"]["mean"], x.mean(0), rtol=1e-9)
    assert ds.stats["action"]["count"].tolist() == [len(x)]
    return n


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crashes")
    proc = _run(CRASH_SCRIPT, root, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.split() == ["17"] * len(CRASH_POINTS), out
    return root


@pytest.mark.parametrize("crash_at", list(CRASH_POINTS))
def test_killed_mid_episode_is_readable_to_last_complete_episode(crashed, crash_at):
    root = crashed / f"crash{crash_at}"
    assert list(root.rglob(".*.tmp")), "the killed write should leave its temporary file behind"
    _check_readable_and_resumable(root, CRASH_POINTS[crash_at])


LOOP_SCRIPT = """
import sys
from test_lerobot import FEATURES, FPS, make_episode
from hiwm.data import DatasetWriter
with DatasetWriter.create(sys.argv[1], FPS, FEATURES, data_files_size_in_mb=0.05) as w:
    i = 0
    while True:
        w.add_episode(make_episode(i, T=40), task="task 0")
        i += 1
"""


def test_sigkill_at_a_random_moment(tmp_path):
    root = tmp_path / "ds"
    proc = _run(LOOP_SCRIPT, root)
    try:  # poll with the reader while the writer runs: every snapshot must be readable
        deadline = time.monotonic() + 30
        while not (root / "meta/info.json").is_file() or LeRobotDataset(root).num_episodes < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        time.sleep(float(np.random.default_rng(0).uniform(0, 0.2)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _check_readable_and_resumable(root, T=40) >= 3


def test_undecodable_image_names_the_file(tmp_path):
    root = tmp_path / "ds"
    write(root, [0])
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    col = table.schema.get_field_index("observation.image")
    n = table.num_rows
    junk = pa.StructArray.from_arrays([pa.array([b"junk"] * n), pa.nulls(n, pa.string())], names=["bytes", "path"])
    pq.write_table(table.set_column(col, "observation.image", junk), path)
    with pytest.raises(DatasetError, match="file-000.parquet: checksum mismatch"):
        LeRobotDataset(root).episode(0)
    drop_checksums(root)  # without its checksum, decoding is where the junk shows
    ds = LeRobotDataset(root)
    np.testing.assert_array_equal(ds.episode(0, decode_images=False)["action"], make_episode(0)["action"])
    with pytest.raises(DatasetError, match="file-000.parquet: column 'observation.image': an image is not a valid"):
        ds.episode(0)
