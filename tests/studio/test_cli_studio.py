"""`hiwm studio` options: a value out of range is one line naming it (argparse's usage error or the CLI's
`hiwm: error:`), before any model is loaded; nothing is served."""

import socket

import pytest

from hiwm import cli
from hiwm.errors import HiwmError
from hiwm.studio.core import Studio, StudioConfig
from hiwm.studio.models import Models


def _usage_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(["studio", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and err[-1].startswith("hiwm studio: error: argument"), err
    return err[-1]


@pytest.fixture
def no_models(monkeypatch):
    """Loading models or serving would mean a check came too late."""
    def refuse(*a, **k):
        raise AssertionError("got past the option checks")
    monkeypatch.setattr("hiwm.studio.models.load_models", refuse)
    monkeypatch.setattr("hiwm.studio.server.serve", refuse)


@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf", "-inf", "1e9", "30.5", "0.5", "fast"])
def test_rates_outside_the_slider_are_refused(capsys, no_models, rate):
    assert "--rate" in _usage_error(capsys, "--rate", rate)


@pytest.mark.parametrize("port", ["0", "-1", "70000", "65536", "http", "80.5"])
def test_ports_outside_1_65535_are_refused(capsys, no_models, port):
    assert "--port" in _usage_error(capsys, "--port", port)


def test_good_values_parse():
    a = cli.build_parser().parse_args(["studio", "--rate", "30", "--port", "65535"])
    assert (a.rate, a.port) == (30.0, 65535)
    a = cli.build_parser().parse_args(["studio", "--rate", "1", "--port", "1"])
    assert (a.rate, a.port) == (1.0, 1)


def _cli_error(capsys, *args: str) -> str:
    assert cli.main(["studio", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hiwm: error: "), err
    return err[0]


def test_a_session_that_is_a_file_is_refused(tmp_path, capsys, no_models):
    f = tmp_path / "notes.txt"
    f.write_text("not a session")
    assert "is a file" in _cli_error(capsys, "--session", str(f))
    assert "is a file" in _cli_error(capsys, "--session", str(f / "inside"))
    assert f.read_text() == "not a session"


def test_a_busy_port_is_refused(tmp_path, capsys, no_models):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert "cannot listen" in _cli_error(capsys, "--session", str(tmp_path / "s"), "--port", str(port))


def test_the_studio_itself_refuses_a_bad_rate_or_session(tmp_path, policy, world_model):
    models = Models(policy, world_model, "tiny", "tiny")
    for rate in (0.0, float("nan"), float("inf"), 1e9):
        with pytest.raises(HiwmError, match="rate"):
            Studio(models, StudioConfig(session_dir=tmp_path / "s", rate_hz=rate))
    (tmp_path / "f").write_text("")
    with pytest.raises(HiwmError, match="is a file"):
        Studio(models, StudioConfig(session_dir=tmp_path / "f"))
