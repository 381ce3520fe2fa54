"""The crash-and-restart soak, a few rounds: the real studio server killed (SIGKILL and SIGTERM) and restarted
on one session loses no acknowledged corrective step and reopens every time."""

from hiwm.experiments.crash_restart import run_soak, run_two_servers


def test_killed_and_restarted_studio_loses_no_acknowledged_correction(tmp_path):
    res = run_soak(tmp_path, rounds=4, seed=0, kinds=["kill", "term", "kill", "term"], kill_after=(0.4, 1.5))
    final = res["final"]
    assert res["rounds"] == 4 and res["reopen_failures"] == 0
    assert final["acknowledged"] > 0, "the person's corrections were acknowledged"
    assert final["lost"] == 0 and final["exported_corrective_nodes"] >= final["acknowledged"], final["lost_nodes"]
    assert res["missing_at_reopen"] == 0 and res["stale_leaves_at_reopen"] == 0
    assert res["tracebacks"] == 0 and final["ack_mismatches"] == 0


def test_a_second_server_on_the_session_exits_with_one_line(tmp_path):
    res = run_two_servers(tmp_path)
    assert not res["second_started"] and res["second_exit"] == 2
    assert res["message"].startswith("hiwm: error: session log ") and "in use by another process" in res["message"]
    assert res["names_file"] and res["names_pid"] and res["second_tracebacks"] == 0
    assert res["first_errors_after"] == 0 and res["duplicate_node_ids"] == 0 and res["lost"] == 0
