"""The studio's doors: who may load the page, its files and the socket (DNS rebinding, tokens, origins), and
that the page never parses a server string as HTML."""

import http.client
import re
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect
from studio_helpers import LiveServer, LocalClient
from ws_client import Driver

from hiwm.errors import HiwmError
from hiwm.studio.server import check_bind, create_app

STATIC = Path(__file__).parents[2] / "src" / "hiwm" / "studio" / "static"
FOREIGN_HOSTS = ["evil.example", "evil.example:8765", "127.0.0.1.evil.example:8765", "localhost.evil.example",
                 "10.0.0.1:8765", "[::2]:8765", "127.0.0.1:port", "[::1", "0.0.0.0:8765"]
LOOPBACK_HOSTS = ["127.0.0.1:8765", "127.0.0.1", "127.9.8.7:80", "localhost:8765", "LocalHost", "[::1]:8765", "[::1]"]


def _refused_ws(tc, url: str = "/ws", **headers) -> int:
    """The close code of a WebSocket the gate refuses before accepting it."""
    with pytest.raises(WebSocketDisconnect) as e:
        with tc.websocket_connect(url, headers=headers) as ws:
            ws.receive_text()
    return e.value.code


def _one_line_403(response) -> None:
    assert response.status_code == 403, response.status_code
    assert response.text.count("\n") == 1 and response.text.startswith("hiwm studio: refused:"), response.text


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_a_foreign_host_is_refused_on_loopback(studio, host):
    """DNS rebinding: a page on a name that resolves to 127.0.0.1 sends its own name as Host."""
    with LocalClient(create_app(studio)) as tc:
        _one_line_403(tc.get("/", headers={"host": host}))
        _one_line_403(tc.get("/static/app.js", headers={"host": host}))
        assert _refused_ws(tc, host=host) == 4403
        assert not studio.clients


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_hosts_are_served(studio, host):
    with LocalClient(create_app(studio)) as tc:
        assert tc.get("/", headers={"host": host}).status_code == 200
        assert tc.get("/static/app.js", headers={"host": host}).status_code == 200
        with tc.websocket_connect("/ws", headers={"host": host}) as ws:
            assert Driver(ws.send_text, ws.receive_text).hello["type"] == "hello"


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:9999", "http://localhost:8765", "null",
                                    "http://127.0.0.1:8765.evil.example"])
def test_a_websocket_from_another_page_is_refused(studio, origin):
    with LocalClient(create_app(studio)) as tc:
        assert _refused_ws(tc, origin=origin) == 4403
        with tc.websocket_connect("/ws", headers={"origin": "http://127.0.0.1:8765"}) as ws:  # the page itself
            assert Driver(ws.send_text, ws.receive_text).hello["type"] == "hello"


@pytest.mark.parametrize("loopback", [True, False])
def test_with_a_token_every_route_needs_it(studio, loopback):
    base = "http://127.0.0.1:8765" if loopback else "http://studio.lab.example:8765"
    with LocalClient(create_app(studio, token="s3cret", loopback=loopback), base_url=base) as tc:
        for path in ("/", "/static/app.js", "/static/style.css", "/?token=wrong", "/?token=%C3%A9", "/?token="):
            _one_line_403(tc.get(path))
        assert _refused_ws(tc) == 4401 and _refused_ws(tc, "/ws?token=wrong") == 4401
        assert not tc.cookies
        page = tc.get("/?token=s3cret")
        assert page.status_code == 200 and "Hi-WM Studio" in page.text
        cookie = page.headers["set-cookie"]
        assert "s3cret" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # the page's own requests carry the cookie (the client keeps it, as a browser does), not the query
        assert tc.get("/static/app.js").status_code == 200
        with tc.websocket_connect("/ws") as ws:
            assert Driver(ws.send_text, ws.receive_text).hello["type"] == "hello"
        tc.cookies.clear()
        with tc.websocket_connect("/ws?token=s3cret") as ws:  # the page also passes the query on
            assert Driver(ws.send_text, ws.receive_text).hello["type"] == "hello"
        assert _refused_ws(tc, "/ws?token=s3cret", origin="http://evil.example") == 4403
        tc.cookies.set("hiwm_token_8765", "wrong")
        _one_line_403(tc.get("/static/app.js"))


def test_a_live_server_refuses_a_rebound_host_on_the_wire(studio):
    """Through uvicorn: the page and the WebSocket handshake with a foreign Host get HTTP 403."""
    with LiveServer(studio) as srv:
        for path, extra in (("/", {}), ("/ws", {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})):
            for host, want in ((f"rebound.example:{srv.port}", 403), (f"127.0.0.1:{srv.port}", 101 if extra else 200)):
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
                conn.request("GET", path, headers={"Host": host, **extra})
                assert conn.getresponse().status == want, (path, host)
                conn.close()


def test_tokens_must_fit_in_an_address():
    assert check_bind("127.0.0.1", False, "t0k") == "t0k"
    for bad in ("", "two words", "tök", "tab\tin"):
        with pytest.raises(HiwmError, match="--token"):
            check_bind("0.0.0.0", True, bad)


def test_the_page_never_parses_server_strings_as_html():
    """Every server string goes in as text: no HTML sink in the page's scripts at all (the browser test puts
    markup in a branch outcome, a policy path and a queue entry and checks it shows as text)."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser")
    for js in STATIC.glob("*.js"):
        hits = [f"{js.name}:{i}" for i, line in enumerate(js.read_text().splitlines(), 1) if sinks.search(line)]
        assert not hits, hits
