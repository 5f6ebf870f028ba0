"""``vabatch annotate serve``: the review page, a small Starlette app on uvicorn.

Local servers are reachable from every web page the user has open, so every request must
pass ``Guard``: the ``Host`` is this server's own (no DNS rebinding), the per-run token is
there (from the URL once, then an HttpOnly SameSite=Strict cookie, or the
``X-Vabatch-Token`` header), and a request that changes anything carries an ``Origin``
equal to the server's own. Edits go through ``vabatch.tools.annotate.edits`` only (each one
transaction on captions.db or layout.db); this module reads through ``review``.
"""

from __future__ import annotations

import html
import json
import secrets
import socket
import threading
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from vabatch.errors import InputError, VabatchError
from vabatch.tools.annotate import review

SAFE_METHODS = frozenset({"GET", "HEAD"})
TOKEN_HEADER = "x-vabatch-token"
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self'; object-src 'none';"
                                 b" frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
]


class Guard:
    """ASGI middleware: refuse (403) every request from elsewhere, see the module's doc."""

    def __init__(self, app, token: str, host: str, port: int) -> None:
        self.app = app
        self.token = token
        self.cookie = f"vabatch_token_{port}"  # cookies are not told apart by port
        self.hosts = {f"{_url_host(name)}:{port}" for name in ("127.0.0.1", "localhost", host)}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await PlainTextResponse("refused", 403)(scope, receive, send)
            return
        request = Request(scope)
        response = self.refusal(request)
        if response is None and self._matches(request.query_params.get("token")):
            # the token leaves the address bar: from now on the cookie carries it
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            path = "/" + request.url.path.lstrip("/")  # never "//host": another site
            response = RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict",
                                path="/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await (response or self.app)(scope, receive, send_with_headers)

    def refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if host not in self.hosts:
            return PlainTextResponse("refused: this server answers only to its own address "
                                     "(Host)", 403)
        if request.method not in SAFE_METHODS and \
                request.headers.get("origin") != f"http://{host}":
            return PlainTextResponse("refused: a change must come from this server's own "
                                     "page (Origin)", 403)
        if not any(self._matches(given) for given in (
                request.query_params.get("token"), request.cookies.get(self.cookie),
                request.headers.get(TOKEN_HEADER))):
            return PlainTextResponse("refused: open the address with the token that "
                                     "`vabatch annotate serve` printed", 403)
        return None

    def _matches(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.token.encode())


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _static(name: str) -> str:
    return resources.files("vabatch.tools.annotate").joinpath("static", name).read_text(
        encoding="utf-8")


class ReviewApp:
    """The routes of one server: the videos it was started with, named by directory name."""

    def __init__(self, video_dirs: list[Path]) -> None:
        self.videos = {d.name: d for d in video_dirs}
        self.bands: dict[str, review.BandFrames] = {}
        self.edit_lock = threading.Lock()  # one edit at a time: each is one transaction

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index), Route("/static/{name}", self.static),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Route("/v/{vid}", self.page), Route("/api/v/{vid}", self.state),
            Route("/api/v/{vid}/strip/{start:int}/{end:int}", self.strip),
            Route("/api/v/{vid}/band/{frame:int}", self.band),
            Route("/api/v/{vid}/frame/{frame:int}", self.frame),
            Route("/api/v/{vid}/boxes/{frame:int}", self.boxes),
            Route("/api/v/{vid}/edit", self.edit, methods=["POST"]),
        ]

    def video_dir(self, request: Request) -> Path:
        found = self.videos.get(request.path_params["vid"])
        if found is None:
            raise InputError("no such video on this page")
        return found

    def index(self, request: Request) -> Response:
        if len(self.videos) == 1:
            return RedirectResponse(f"/v/{next(iter(self.videos))}", 303)
        items = "".join(
            f'<li><a href="/v/{html.escape(name)}">{html.escape(name)}</a> '
            f'{html.escape(review.video_facts(d).source_name)}</li>'
            for name, d in self.videos.items())
        return HTMLResponse(_static("index.html").replace("{{ITEMS}}", items))

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {"review.js": "text/javascript", "review.css": "text/css"}
        if name not in kinds:
            return PlainTextResponse("not found", 404)
        return Response(_static(name), media_type=kinds[name])

    def page(self, request: Request) -> Response:
        video_dir = self.video_dir(request)
        facts = review.video_facts(video_dir)
        return HTMLResponse(_static("review.html")
                            .replace("{{VIDEO}}", html.escape(video_dir.name))
                            .replace("{{TITLE}}", html.escape(facts.source_name)))

    def state(self, request: Request) -> Response:
        from vabatch.tools.annotate.edits import CaptionEditor

        video_dir = self.video_dir(request)
        facts = review.video_facts(video_dir)
        with CaptionEditor(video_dir) as editor:
            captions = [asdict(view) for view in editor.captions()]
            least = [view.caption_id for view in editor.least_certain()]
        return JSONResponse({
            "video_id": facts.video_id, "source_name": facts.source_name,
            "frame_count": facts.frame_count, "fps": facts.fps, "width": facts.width,
            "height": facts.height, "band": facts.band,
            "band_from": "video" if facts.source_file else "mask",
            "sampled_frames": facts.sampled_frames, "captions": captions,
            "least_certain": least})

    def strip(self, request: Request) -> Response:
        video_dir = self.video_dir(request)
        start, end = request.path_params["start"], request.path_params["end"]
        data = review.caption_strip(video_dir, start, end)
        if data is None:
            data = self._band(video_dir).image(max(start, (start + end) // 2))
        return _image(data)

    def band(self, request: Request) -> Response:
        return _image(self._band(self.video_dir(request)).image(request.path_params["frame"]))

    def frame(self, request: Request) -> Response:
        return _image(review.full_frame(self.video_dir(request), request.path_params["frame"]))

    def boxes(self, request: Request) -> Response:
        return JSONResponse(review.frame_boxes(self.video_dir(request),
                                               request.path_params["frame"]))

    def _band(self, video_dir: Path) -> review.BandFrames:
        if video_dir.name not in self.bands:  # two at once: one of them is kept
            self.bands.setdefault(video_dir.name, review.BandFrames(
                video_dir, review.video_facts(video_dir)))
        return self.bands[video_dir.name]

    async def edit(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the request is not JSON"}, 400)
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(await run_in_threadpool(self._apply, self.video_dir(request),
                                                    body))

    def _apply(self, video_dir: Path, body: dict) -> dict:
        from vabatch.tools.annotate.edits import CaptionEditor
        from vabatch.tools.annotate.labels import set_box_label

        if not isinstance(body, dict):
            raise InputError("an edit is a JSON object with an 'op'")
        op = body.get("op")
        with self.edit_lock:
            if op == "label":
                set_box_label(video_dir, _int(body, "frame_index"), _int(body, "box_index"),
                              body.get("label"))
                return {"done": op}
            with CaptionEditor(video_dir) as editor:
                return {"done": op, "select": _caption_edit(editor, op, body)}


def _caption_edit(editor, op: str, body: dict) -> int | None:
    """Apply one caption edit; the id of the caption to show next (None: keep the place)."""
    if op == "undo":
        if not editor.undo():
            raise InputError("nothing to undo")
        return None
    if op == "add":
        return editor.add(_int(body, "start"), _int(body, "end"), _text(body)).caption_id
    caption_id = _int(body, "caption_id")
    if op == "text":
        return editor.set_text(caption_id, _text(body)).caption_id
    if op == "bounds":
        return editor.set_bounds(caption_id, _int(body, "start"), _int(body, "end")).caption_id
    if op == "split":
        return editor.split(caption_id, _int(body, "at"))[0].caption_id
    if op == "merge":
        ids = [view.caption_id for view in editor.captions()]
        if caption_id not in ids or ids[-1] == caption_id:
            raise InputError("no next caption to merge with")
        return editor.merge(caption_id, ids[ids.index(caption_id) + 1]).caption_id
    if op == "delete":
        editor.delete(caption_id)
        return None
    raise InputError(f"unknown edit {op!r}")


def _int(body: dict, key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{key} must be a whole number")
    return value


def _text(body: dict) -> str:
    value = body.get("text")
    if not isinstance(value, str):
        raise InputError("text must be a string")
    return value


def _image(data: bytes | None) -> Response:
    if data is None:
        return PlainTextResponse("no image for this frame", 404)
    return Response(data, media_type=review.image_type(data))


async def _error(request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, 400)


def create_app(video_dirs: list[Path], token: str, host: str, port: int) -> Guard:
    """The review app for ``video_dirs``, behind its guard, for a server at host:port."""
    routes = ReviewApp(video_dirs).routes()
    app = Starlette(routes=routes, exception_handlers={VabatchError: _error})
    return Guard(app, token, host, port)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the URL can name the real port."""
    try:
        sock = socket.create_server((host, port))
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror or error})") \
            from None
    return sock


def serve(video_dirs: list[Path], host: str, port: int, announce) -> None:
    """Run the review page until interrupted; ``announce(url)`` is called once it listens."""
    import uvicorn

    if not video_dirs:
        raise InputError("no videos to review")
    sock = bind(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    server = uvicorn.Server(uvicorn.Config(create_app(video_dirs, token, host, port),
                                           log_level="warning", lifespan="off"))
    announce(f"http://{_url_host(host)}:{port}/?token={token}")
    server.run(sockets=[sock])
