"""The explorer: a read-only page the node serves at `/`, its assets shipped in the package.

Plain HTML, CSS and JavaScript (no framework, no build step, nothing fetched from anywhere but
this node): the page reads the chain over the node's own JSON-RPC (`POST /`) and follows new
blocks over its WebSocket (`/ws`, `aither_subscribe("newHeads")`). It never holds a key: it
calls only read methods. The assets are read once, at start; the response headers forbid any
other origin (Content-Security-Policy) and framing.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

ASSETS = {  # URL path -> (file, media type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/explorer/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/explorer/style.css": ("style.css", "text/css; charset=utf-8"),
}
# Only this node: scripts, styles and images from itself, calls to its own JSON-RPC and WebSocket.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str


def load_assets() -> dict[str, Asset]:
    """Every asset by URL path, read from the package."""
    static = files("node.explorer").joinpath("static")
    return {
        path: Asset(static.joinpath(name).read_bytes(), media)
        for path, (name, media) in ASSETS.items()
    }
