"""The studio's web server: the page, its static files, and the WebSocket at ``/ws`` (Starlette + uvicorn).

    app = create_app(studio, token=None)        # an ASGI app; tests drive it with a test client
    serve(studio, host="127.0.0.1", port=8765)  # blocks until interrupted

By default it listens on 127.0.0.1 only. Binding to any other address needs ``allow_remote`` and a
token, which every WebSocket connection must present (``/ws?token=...``; the page passes on the one in
its own address). A WebSocket whose ``Origin`` is another site is refused, so a web page the person
happens to visit cannot drive a local studio. Messages larger than 64 KiB close the connection at the
transport; anything smaller is checked by protocol.py and answered.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from hiwm.errors import HiwmError
from hiwm.studio.core import Studio

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
WS_MAX_BYTES = 64 * 1024
NO_CACHE = {"Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin_ok(ws: WebSocket) -> bool:
    """No Origin (a script, not a browser) or the same host:port as the page."""
    origin = ws.headers.get("origin")
    if not origin:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host", "")


def create_app(studio: Studio, token: str | None = None) -> Starlette:
    async def index(request):
        return FileResponse(STATIC / "index.html", headers=NO_CACHE)

    async def socket(ws: WebSocket) -> None:
        if token is not None and not hmac.compare_digest(ws.query_params.get("token", ""), token):
            await ws.close(code=4401)
            return
        if not _origin_ok(ws):
            await ws.close(code=4403)
            return
        await ws.accept()
        client = await studio.connect(ws.send_text)
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
    return Starlette(routes=routes, lifespan=lifespan)


def check_bind(host: str, allow_remote: bool, token: str | None) -> str | None:
    """The token to require: None on loopback; elsewhere ``allow_remote`` is needed and a token made if absent."""
    if is_loopback(host):
        return token
    if not allow_remote:
        raise HiwmError(f"binding to {host} exposes the studio beyond this machine: pass --allow-remote (a token is then required)")
    return token or secrets.token_urlsafe(16)


def serve(studio: Studio, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    """Run the server until interrupted (uvicorn; one process, one event loop)."""
    import uvicorn

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/" + (f"?token={token}" if token else "")
    log.info("Hi-WM studio: open %s", url)
    config = uvicorn.Config(create_app(studio, token), host=host, port=port, ws_max_size=WS_MAX_BYTES,
                            log_level="warning", lifespan="on")
    uvicorn.Server(config).run()
