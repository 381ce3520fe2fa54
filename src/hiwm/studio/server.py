"""The studio's web server: the page, its static files, and the WebSocket at ``/ws`` (Starlette + uvicorn).

    app = create_app(studio, token=None)        # an ASGI app; tests drive it with a test client
    serve(studio, host="127.0.0.1", port=8765)  # blocks until interrupted

Every request, page, static file or WebSocket, passes one gate (:class:`Gate`) first:

- Bound to loopback (the default), a request whose ``Host`` is not a loopback name or address
  (``127.0.0.0/8``, ``localhost``, ``[::1]``, any port) is refused: a page on another domain that
  resolves to 127.0.0.1 (DNS rebinding) would otherwise be same-origin with the studio.
- With a token (``--allow-remote`` makes one), every request must carry it: ``?token=...`` or the
  HttpOnly, SameSite=Strict cookie the page is given when it is opened with the token.
- A WebSocket whose ``Origin`` is present and not this page's own host:port is refused, so a site the
  person happens to visit cannot drive the studio.

A refused page or file gets HTTP 403 and a one-line body; a refused WebSocket is closed before it is
accepted (4403: host or origin, 4401: token; uvicorn answers such a handshake with HTTP 403). The page
is sent with a Content-Security-Policy (scripts from this server only, no framing). Messages larger
than 64 KiB close the connection at the transport; anything smaller is checked by protocol.py.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from hiwm.errors import HiwmError
from hiwm.studio.core import Studio

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
WS_MAX_BYTES = 64 * 1024
NO_CACHE = {"Cache-Control": "no-store"}
# The page loads its own scripts and styles only, talks only to this server, and may not be framed
# (a foreign page could otherwise frame the loopback studio and steer the person's clicks).
PAGE_HEADERS = {**NO_CACHE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
                                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"}
SLOW_TAB_CODE = 4408  # the close code of a tab dropped because it stopped reading


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.y.z``, ``::1`` (brackets allowed)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(header: str) -> str | None:
    """A ``Host`` header -> its host part (``[::1]:8765`` -> ``::1``); None when it is malformed."""
    if header.startswith("["):
        host, sep, rest = header[1:].partition("]")
        return host if sep and (not rest or (rest[0] == ":" and rest[1:].isdigit())) else None
    host, _, port = header.partition(":")
    return host if host and (not _ or port.isdigit()) else None


def _token_ok(given: str | None, token: str) -> bool:
    # bytes: compare_digest refuses non-ASCII str, and a query string may hold anything
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


class Gate:
    """ASGI middleware in front of every route: Host (on loopback), token (when set), WebSocket Origin."""

    def __init__(self, app: ASGIApp, token: str | None, loopback: bool):
        self.app, self.token, self.loopback = app, token, loopback

    @staticmethod
    def cookie_name(scope: Scope) -> str:
        """One cookie per port: cookies are not isolated by port, and two studios may share a host."""
        server = scope.get("server") or ("", "")
        return f"hiwm_token_{server[1]}"

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(WebSocket close code, one-line reason) when the request is refused, else None."""
        conn = HTTPConnection(scope)
        host = conn.headers.get("host", "")
        name = split_host(host)
        if self.loopback and (name is None or not is_loopback(name)):
            return 4403, f"host {host[:60]!r} is not a loopback address (this studio serves this machine only)"
        if self.token is not None and not (_token_ok(conn.query_params.get("token"), self.token)
                                           or _token_ok(conn.cookies.get(self.cookie_name(scope)), self.token)):
            return 4401, "missing or wrong token: open the address the studio printed (.../?token=...)"
        origin = conn.headers.get("origin")
        if scope["type"] == "websocket" and origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return 4403, f"origin {origin[:60]!r} is not this studio's page"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            return await self.app(scope, receive, send)
        refused = self.refusal(scope)
        if refused is None:
            return await self.app(scope, receive, send)
        code, reason = refused
        log.info("studio: refused %s %s: %s", scope["type"], scope.get("path", ""), reason)
        if scope["type"] == "websocket":  # a close frame's reason holds at most 123 bytes
            await send({"type": "websocket.close", "code": code, "reason": reason.encode()[:120].decode(errors="ignore")})
        else:
            await PlainTextResponse(f"hiwm studio: refused: {reason}\n", status_code=403)(scope, receive, send)


def create_app(studio: Studio, token: str | None = None, loopback: bool = True) -> Starlette:
    """The ASGI app; ``loopback``: the server listens on a loopback address (so Host must be one too)."""
    async def index(request: Request):
        response = FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
        if token is not None and _token_ok(request.query_params.get("token"), token):
            # the page's own requests (static files, the socket) then carry the token without the query
            response.set_cookie(Gate.cookie_name(request.scope), token, httponly=True, samesite="strict", path="/")
        return response

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        client = await studio.connect(ws.send_text, lambda: ws.close(code=SLOW_TAB_CODE, reason="too slow"))
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                raw = msg.get("text") if msg.get("text") is not None else msg.get("bytes") or b""
                await studio.handle(client, raw)
        except WebSocketDisconnect:
            pass
        finally:
            await studio.disconnect(client)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await studio.start()
        try:
            yield
        finally:
            await studio.close()

    routes = [Route("/", index), WebSocketRoute("/ws", socket),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(Gate, token=token, loopback=loopback)
    return app


def check_bind(host: str, allow_remote: bool, token: str | None) -> str | None:
    """The token to require: the given one (or none) on loopback; elsewhere ``allow_remote`` is needed and a
    token made if absent."""
    if token is not None and (not token or not token.isascii() or not token.isprintable() or " " in token):
        raise HiwmError("--token must be non-empty printable ASCII without spaces (it goes into the page's address)")
    if is_loopback(host):
        return token
    if not allow_remote:
        raise HiwmError(f"binding to {host} exposes the studio beyond this machine: pass --allow-remote (a token is then required)")
    return token or secrets.token_urlsafe(16)


def check_port(host: str, port: int) -> None:
    """Fail in one line, before anything is loaded, when ``host:port`` cannot be listened on (in use, no such
    address, a privileged port)."""
    if not 1 <= port <= 65535:
        raise HiwmError(f"port {port} is outside 1-65535")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socket.create_server((host, port), family=family).close()  # SO_REUSEADDR, as uvicorn binds
    except OSError as e:
        raise HiwmError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def serve(studio: Studio, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    """Run the server until interrupted (uvicorn; one process, one event loop)."""
    import uvicorn

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    log.info("Hi-WM studio: open %s", url)
    config = uvicorn.Config(create_app(studio, token, loopback=is_loopback(host)), host=host, port=port,
                            ws_max_size=WS_MAX_BYTES, log_level="warning", lifespan="on")
    uvicorn.Server(config).run()
