"""The console's page and files (api/console): its security headers, no inline script, the
session token kept out of localStorage, and the vendored Chart.js as recorded."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

from aiohttp.test_utils import make_mocked_request

from api.console import routes

STATIC = routes.STATIC_DIR
VENDOR = STATIC / "vendor"
ROOT = Path(__file__).resolve().parents[3]


class _Inline(HTMLParser):
    """Whatever in the page would need 'unsafe-inline': script bodies, handlers, style."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.found.append("script without src")
        if tag == "style" or "style" in names:
            self.found.append(f"style on <{tag}>")
        self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("inline script")


async def test_the_page_forbids_inline_script_other_origins_and_framing() -> None:
    answer = await routes.page(make_mocked_request("GET", "/console/"))
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.content_type == "text/html"


def test_the_page_has_nothing_inline() -> None:
    parser = _Inline()
    parser.feed(routes.PAGE.decode())
    assert parser.found == []
    # The page itself is not a static file (it is only served with its headers).
    assert not (STATIC / "index.html").exists()


def test_the_session_token_is_kept_in_session_storage_only() -> None:
    scripts = {p.name: p.read_text() for p in (STATIC / "js").rglob("*.js")}
    assert scripts
    for name, text in scripts.items():
        assert "localStorage" not in text, name
        assert "innerHTML" not in text, name  # API data is shown as text, never parsed
    assert "sessionStorage.setItem" in scripts["api.js"]


def test_the_vendored_chart_js_is_the_recorded_file_and_version() -> None:
    recorded, name = (VENDOR / "chart.umd.min.js.sha256").read_text().split()
    body = (VENDOR / name).read_bytes()
    assert hashlib.sha256(body).hexdigest() == recorded
    version = re.search(r"^CHARTJS_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert version is not None
    assert body.startswith(f"/*!\n * Chart.js v{version.group(1)}\n".encode())
    assert "MIT" in (VENDOR / "chart.js-LICENSE.md").read_text()
