"""Helpers for the browser tests: Debian's Chromium driven by Playwright, offline.

No browser is downloaded (never `playwright install`): Playwright launches
/usr/bin/chromium (`make chromium` installs it). The browser gets a fresh profile, every
background service off, and a host resolver that only knows 127.0.0.1, so a page can never
reach beyond the local test servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path(os.environ.get("YIELDFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # the tests run as root in CI
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Any host but 127.0.0.1 fails to resolve: the UIs are tested as served, offline.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1440, "height": 1000}
TIMEOUT_MS = 60_000  # single-page apps on a slow, shared 2-core machine


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed: pip install -e '.[dev]'"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found: run `make chromium` as root (apt-get install chromium)"
    return None


@contextlib.contextmanager
def chromium(profile_dir: Path) -> Iterator[BrowserContext]:
    """A headless Chromium context with a fresh profile in profile_dir; closed after."""
    from playwright.sync_api import expect, sync_playwright

    profile_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            timeout=TIMEOUT_MS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def open_page(context: BrowserContext, url: str, viewport: tuple[int, int] | None = None) -> Page:
    """A new tab on url, loaded, with the app's first API calls given time to answer.

    Not ``goto(wait_until="networkidle")``: MLflow's runs page polls, and on a busy CI
    machine it never stayed quiet for 500 ms within goto's 60 s (a CI run failed so). The
    tests wait for the elements they check instead.
    """
    page = context.new_page()
    if viewport:
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    return go(page, url)


def go(page: Page, url: str) -> Page:
    """Navigate page to url as open_page does: loaded, then a best-effort idle wait."""
    page.goto(url, wait_until="load")
    settle(page)
    return page


def settle(page: Page, timeout_ms: float = 15_000) -> None:
    """Wait (at most timeout_ms) for the network to go idle again.

    Best effort: some pages poll forever (MLflow's), so the tests wait for the elements they
    check, not for idleness alone.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=timeout_ms)


# The height the page needs to show everything: the document's, or that of an inner scroll
# container (the Prefect UI scrolls `.app-router-view`, so full_page alone stops at the fold).
_CONTENT_HEIGHT_JS = """() => {
  let need = document.documentElement.scrollHeight;
  for (const el of document.querySelectorAll('*')) {
    const overflow = getComputedStyle(el).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && el.scrollHeight > el.clientHeight + 1) {
      const box = el.getBoundingClientRect();
      need = Math.max(need, box.top + el.scrollHeight + (window.innerHeight - box.bottom));
    }
  }
  return Math.ceil(need);
}"""
MAX_SCREENSHOT_HEIGHT = 8000


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """A full-page PNG of page as folder/name, inner scroll areas included.

    Waits for pending requests and fonts; the viewport is stretched to the content's height
    for the shot (then restored), since single-page apps scroll inside a fixed-height view.
    """
    settle(page)
    page.evaluate("document.fonts.ready.then(() => true)")
    viewport = page.viewport_size or VIEWPORT
    height = min(page.evaluate(_CONTENT_HEIGHT_JS), MAX_SCREENSHOT_HEIGHT)
    if height > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": height})
        settle(page, timeout_ms=5_000)
        page.wait_for_timeout(500)  # a re-layout after the resize
    path = folder / name
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    page.set_viewport_size(viewport)
    return path


def image_loaded(page: Page, selector: str) -> dict[str, object]:
    """naturalWidth/naturalHeight and src scheme of the first image matching selector."""
    return page.locator(selector).first.evaluate(
        "img => ({complete: img.complete, naturalWidth: img.naturalWidth,"
        " naturalHeight: img.naturalHeight, src: (img.getAttribute('src') || '').slice(0, 40)})"
    )


def copy_screenshots(paths: list[Path], destination: Path) -> None:
    """Copy the PNGs to destination (e.g. docs/screenshots), replacing older ones."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copyfile(path, destination / path.name)
