"""The HTTP face of an index (``searchkit serve``): a JSON search API and a news search page, over ``Index``.

Thin: each route maps its query parameters onto ``Index.search`` keyword arguments (the CLI's flags, by the same
names) and answers with ``Hit.to_dict`` (the ``--json`` contract) or a page of ``page``. An error is one line,
never a traceback: 400 for a malformed query or parameter, 404 for an unknown passage, 500 for a damaged index.
The index follows the commits of ``searchkit index`` (``Index.refresh``, at most once a second); calls under
way finish on the commit they started with, which is then released.

>>> app = create_app("index/")      # a Starlette app, to mount in another ASGI application
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from importlib.resources import files

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import page, render
from .dates import parse_day
from .errors import IndexClosed, NothingToSearch, PassageNotFound, QueryError, SearchkitError, ShardError
from .index import Index
from .models import Passage

__all__ = ["create_app", "serve", "search_arguments", "HTTP_STATUS", "MAX_LIMIT", "PARAMETERS"]

MAX_LIMIT = 100
"""Hits one request may ask for (``limit``); ``offset`` is bounded by ``query.MAX_OFFSET``."""
REFRESH_SECONDS = 1.0
"""How often the server looks for a new commit (one read of ``CURRENT``)."""
HTTP_STATUS: dict[type[SearchkitError], int] = {
    QueryError: 400,
    PassageNotFound: 404,
    IndexClosed: 503,
    ShardError: 503,
    SearchkitError: 500,
}
"""The status of each error (the first class that matches); any other exception is a 500 as well."""
_TEXT = ("source", "place", "since", "until", "speaker", "sort")
_FLAGS = {"per_article": False, "expand": False, "collapse": False, "aliases": True}
"""Flags and their values when absent; ``aliases`` only on or off (a file of names is no request's to name)."""
PARAMETERS = ("q", "limit", "offset", "today", *_TEXT, *_FLAGS)
"""The parameters of ``/api/search`` and ``/``: ``q`` is the query text, the others ``Index.search``'s."""
COUNTED: dict[str, Any] = {"facets": True, "timeline": "auto"}
"""What every search of the API and the page counts over all its matches: every facet, and the timeline (by month
over at most 3 years, else by year)."""
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Sent with every page: scripts, styles and images from this server only (nothing inline), never framed."""

log = logging.getLogger("searchkit.server")


def search_arguments(params: QueryParams) -> tuple[str, dict]:
    """The query text and ``Index.search`` keyword arguments of a request's parameters; an empty value is no value
    (as an HTML form sends an empty field).

    Raises:
        QueryError: an unknown or repeated parameter, a ``limit`` or ``offset`` that is no whole number or out of
            bounds, a flag that is not ``1``/``0``/``true``/``false``, ``today`` not as ``YYYY-MM-DD``.
    """
    for name in params.keys():
        if name not in PARAMETERS:
            raise QueryError(f"unknown parameter {name[:40]!r}; the parameters are {', '.join(PARAMETERS)}")
        if len(params.getlist(name)) > 1:
            raise QueryError(f"parameter {name} is given more than once")
    arguments: dict = {
        "limit": _whole_number(params, "limit", 10),
        "offset": _whole_number(params, "offset", 0),
    }
    if arguments["limit"] > MAX_LIMIT:
        raise QueryError(f"limit must be at most {MAX_LIMIT}, got {arguments['limit']}")
    for name in _TEXT:
        if params.get(name):
            arguments[name] = params[name]
    for name in _FLAGS:
        value = params.get(name, "").lower()
        if value not in ("", "0", "1", "false", "true"):
            raise QueryError(f"{name} must be 1, 0, true or false, got {value[:40]!r}")
        arguments[name] = value in ("1", "true") if value else _FLAGS[name]
    if params.get("today"):
        arguments["today"] = parse_day(params["today"], "today")
    return params.get("q", ""), arguments


def _whole_number(params: QueryParams, name: str, default: int) -> int:
    value = params.get(name) or str(default)
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise QueryError(f"{name} must be a whole number of at most 9 digits, got {value[:40]!r}")
    return int(value)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _status(error: BaseException) -> int:
    return next((status for cls, status in HTTP_STATUS.items() if isinstance(error, cls)), 500)


class _LiveIndex:
    """The served ``Index``, following new commits at most once every ``every`` seconds."""

    def __init__(self, path: str | os.PathLike, every: float, ray: str | None) -> None:
        self.index = Index.open(path, ray=ray)
        self._every = every
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def follow(self) -> None:
        """Read a new commit if there is one and the last look is ``every`` seconds old; a damaged new commit is
        logged, and the one being read is kept."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self._every:
                return
            self._checked = now
        try:
            if self.index.refresh():
                log.info("searchkit: now serving %s", self.index.directory.name)
        except SearchkitError as e:
            log.warning("searchkit: new commit not served: %s", _one_line(e))


def create_app(
    index_path: str | os.PathLike, *, refresh_seconds: float = REFRESH_SECONDS, ray: str | None = None,
) -> Starlette:
    """The Starlette app serving the index at ``index_path``: ``/`` and ``/passages/{id}`` (pages),
    ``/api/search``, ``/api/passages/{id}``, ``/api/stats`` and ``/healthz`` (JSON), ``/static`` (CSS, JS). With
    ``ray``, a sharded index is searched through its shards' Ray actors (as ``Index.open``), a new snapshot
    through new actors.

    Raises:
        IndexNotFound, IndexIncompatible, IndexCorrupt, ShardError: as ``Index.open``.
    """
    live = _LiveIndex(index_path, refresh_seconds, ray)

    def api_search(request: Request) -> Response:
        live.follow()
        try:
            text, arguments = search_arguments(request.query_params)
            started = time.perf_counter()
            try:
                results = live.index.search(text, **arguments, **COUNTED)
                note = None
            except NothingToSearch as e:  # nothing can match: no hits, as when nothing matched
                results, note = None, _one_line(e)
            took_ms = (time.perf_counter() - started) * 1000
        except (SearchkitError, OSError) as e:
            return _json_error(e)
        body = {
            "query": text,
            "total": results.total if results is not None else 0,
            "took_ms": round(took_ms, 3),
            "offset": arguments["offset"],
            "generation": results.generation if results is not None else None,
            "hits": [hit.to_dict() for hit in results or ()],
            "facets": results.facets if results is not None else None,
            "timeline": [{"period": p, "count": n} for p, n in results.timeline]
            if results is not None and results.timeline is not None else None,
            "suggestion": results.suggestion if results is not None else None,
        }
        if note is not None:
            body["note"] = note
        headers = {"X-Searchkit-Generation": body["generation"]} if body["generation"] else None
        return JSONResponse(body, headers=headers)

    def passage_of(request: Request) -> tuple[Passage, list[Passage]]:
        live.follow()
        passage_id = request.path_params["passage_id"]
        return live.index.get(passage_id), live.index.neighbours(passage_id)

    def api_passage(request: Request) -> Response:
        try:
            passage, neighbours = passage_of(request)
        except (SearchkitError, OSError) as e:
            return _json_error(e)
        return Response(render.passage_json(passage, neighbours), media_type="application/json")

    def api_stats(request: Request) -> Response:
        live.follow()
        try:
            stats = live.index.stats()
        except (SearchkitError, OSError) as e:
            return _json_error(e)
        return Response(render.stats_json(stats), media_type="application/json")

    def healthz(request: Request) -> Response:
        live.follow()
        try:
            generation = live.index.directory.name
        except (SearchkitError, OSError) as e:
            return _json_error(e)
        return JSONResponse({"ok": True, "generation": generation})

    def search_page(request: Request) -> Response:
        live.follow()
        params = request.query_params
        state = {name: params[name] for name in PARAMETERS if params.get(name)}
        offset, limit, results, error, took_ms = 0, 10, None, None, None
        status = 200
        try:
            text, arguments = search_arguments(params)
            offset, limit = arguments["offset"], arguments["limit"]
            if text.strip():
                started = time.perf_counter()
                results = live.index.search(text, **arguments, **COUNTED)
                took_ms = (time.perf_counter() - started) * 1000
        except NothingToSearch as e:
            error = _one_line(e)
        except (SearchkitError, OSError) as e:
            error, status = _one_line(e), _status(e)
        corpus = ""
        if results is None and error is None:
            try:
                counts = live.index.manifest.get("counts", {})
                corpus = f"Search {counts.get('passages', 0):,} passages of {counts.get('articles', 0):,} articles."
            except (SearchkitError, OSError) as e:
                error, status = _one_line(e), _status(e)
        html = page.search_page(state, results, error=error, took_ms=took_ms, corpus=corpus, offset=offset,
                                limit=limit)
        return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)

    def passage_page(request: Request) -> Response:
        try:
            passage, neighbours = passage_of(request)
        except (SearchkitError, OSError) as e:
            title = "No such passage" if isinstance(e, PassageNotFound) else "Error"
            return HTMLResponse(page.message_page(title, _one_line(e)), status_code=_status(e),
                                headers=_SECURITY_HEADERS)
        return HTMLResponse(page.passage_page(passage, neighbours), headers=_SECURITY_HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else f"internal error ({type(exc).__name__})"
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"error": detail}, status_code=status)
        return HTMLResponse(page.message_page(str(status), detail), status_code=status, headers=_SECURITY_HEADERS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """While served: look for new commits every second, also when no request comes (the old commit is
        released); at the end, close the index."""

        async def follow() -> None:
            while True:
                await asyncio.sleep(refresh_seconds)
                await asyncio.to_thread(live.follow)

        task = asyncio.create_task(follow())
        try:
            yield
        finally:
            task.cancel()
            live.index.close()

    routes = [
        Route("/", search_page),
        Route("/passages/{passage_id}", passage_page),
        Route("/api/search", api_search),
        Route("/api/passages/{passage_id}", api_passage),
        Route("/api/stats", api_stats),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=str(files("searchkit") / "static")), name="static"),
    ]
    handlers = {HTTPException: http_error, Exception: http_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.index = live.index
    return app


def _json_error(error: BaseException) -> JSONResponse:
    return JSONResponse({"error": _one_line(error)}, status_code=_status(error))


def serve(
    index_path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8765, ray: str | None = None,
) -> None:
    """Serve the index at ``index_path`` on ``host:port`` with uvicorn until interrupted (``ray``: as
    ``create_app``).

    Raises:
        OSError: the address cannot be bound (in use, or not this machine's).
        IndexNotFound, IndexIncompatible, IndexCorrupt, ShardError: as ``Index.open``.
    """
    app = create_app(index_path, ray=ray)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on such sockets (with 0, each answer waited 40 ms for an ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}") from None
    logging_config = {**uvicorn.config.LOGGING_CONFIG}
    logging_config["loggers"] = {**logging_config["loggers"], log.name: {"handlers": ["default"], "level": "INFO"}}
    config = uvicorn.Config(app, log_config=logging_config, access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    config.load()
    log.info("searchkit: serving %s (%s) on http://%s/", index_path, app.state.index.directory.name,
             f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    server.run(sockets=[sock])
