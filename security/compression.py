"""gzip on the wire for phones on weak 3G: compressed request bodies in, compressed answers out.

A phone may send `Content-Encoding: gzip` (a 500-operation sync batch shrinks about tenfold);
every JSON, GeoJSON or CSV answer of the API is compressed when the client accepts gzip.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, request

# A compressed body may not unpack to more than this (a "zip bomb" is refused, not unpacked).
MAX_UNPACKED = 16 * 1024 * 1024
MIN_COMPRESSED_SIZE = 500  # smaller answers gain nothing
COMPRESSIBLE = ("application/json", "application/geo+json", "text/csv")

StartResponse = Callable[..., Any]


class GzipRequests:
    """WSGI middleware: unpack `Content-Encoding: gzip` request bodies before the app reads them.

    A body that is not gzip, or that unpacks beyond MAX_UNPACKED, reaches the app empty with
    `ronda.gzip_error` set to "invalid" or "too_large", for the API to answer 400 or 413.
    """

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() == "gzip":
            body, error = _unpack(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_CONTENT_ENCODING", None)
            if error:
                environ["ronda.gzip_error"] = error
        return self.app(environ, start_response)


def _unpack(environ: dict[str, Any]) -> tuple[bytes, str | None]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b"", "invalid"
    if length > MAX_UNPACKED:
        return b"", "too_large"
    packed = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read(MAX_UNPACKED + 1)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        body = inflater.decompress(packed, MAX_UNPACKED + 1)
    except zlib.error:
        return b"", "invalid"
    if len(body) > MAX_UNPACKED or inflater.unconsumed_tail:
        return b"", "too_large"
    if not inflater.eof:
        return b"", "invalid"  # cut short on the way
    return body, None


def gzip_error() -> str | None:
    """Why this request's compressed body was refused ("invalid", "too_large"), if it was."""
    error: str | None = request.environ.get("ronda.gzip_error")
    return error


def compress_response(response: Response) -> Response:
    """gzip a JSON/GeoJSON/CSV answer when the client accepts it and it is worth it."""
    if (
        response.direct_passthrough
        or response.is_streamed
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
        or response.mimetype not in COMPRESSIBLE
        or request.accept_encodings["gzip"] <= 0
    ):
        return response
    data = response.get_data()
    response.vary.add("Accept-Encoding")
    if len(data) < MIN_COMPRESSED_SIZE:
        return response
    response.set_data(gzip.compress(data, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    return response
