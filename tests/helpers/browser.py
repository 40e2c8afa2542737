"""A real browser for the tests: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by
Selenium. What a user sees is read from the page the way a person reads it: shown, big enough, with enough
contrast, not covered by something else. tests/browser/ uses it for Argilla's annotation page and for
prefkit's HTML reports."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Argilla's page asks Google for its web fonts; with no network that fails, and it is not the page's fault.
FONT_FETCH = re.compile(r"fonts\.(googleapis|gstatic)\.com")
WINDOW = (1280, 860)


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths: $PREFKIT_CHROMIUM / $PREFKIT_CHROMEDRIVER, else Debian's packages."""
    binary = os.environ.get("PREFKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("PREFKIT_CHROMEDRIVER") or shutil.which("chromedriver")
    if binary and driver and os.access(binary, os.X_OK) and os.access(driver, os.X_OK):
        return binary, driver
    return None


def start_browser(binary: str, driver: str) -> Any:
    """A headless Chromium that keeps the page's console messages (read them with :func:`console_errors`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def console_errors(driver: Any) -> list[str]:
    """The console errors since the last call (a failed web-font fetch is not one)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not FONT_FETCH.search(e["message"])]


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``condition(driver)`` until it is truthy; fail with ``what`` and a page excerpt otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition(driver)
        except Exception:  # the page is re-rendering: an element went stale or is not there yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            body = driver.execute_script("return document.body ? document.body.innerText : ''")[:1500]
            raise AssertionError(f"timed out waiting for {what}; the page shows:\n{body}")
        time.sleep(0.1)


_LOOK = """
const el = arguments[0];
const tall = el.getBoundingClientRect().height > window.innerHeight / 2;
el.scrollIntoView({block: tall ? "start" : "center", inline: "nearest"});
const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
let bg = null;
for (let e = el; e && !bg; e = e.parentElement) {
  const c = getComputedStyle(e).backgroundColor;
  if (c && c !== "transparent" && !/rgba\\(.*, 0\\)$/.test(c)) bg = c;
}
const x = r.left + Math.min(r.width / 2, 30), y = r.top + Math.min(r.height / 2, 10);
const top = document.elementFromPoint(x, y);
let hidden = false;
for (let e = el; e; e = e.parentElement) {
  const s = getComputedStyle(e);
  if (s.visibility === "hidden" || s.display === "none" || parseFloat(s.opacity) < 0.5) hidden = true;
}
return {width: r.width, height: r.height, font: parseFloat(cs.fontSize), color: cs.color,
        background: bg || "rgb(255, 255, 255)", covered: !(top && (el.contains(top) || top.contains(el))),
        hidden: hidden, overflow: el.scrollWidth - el.clientWidth};
"""


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours (1 to 21)."""

    def luminance(css: str) -> float:
        channels = [c / 255 for c in _rgb(css)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable(driver: Any, element: Any, what: str, min_contrast: float = 4.5) -> None:
    """Assert that ``element`` is shown, not covered, at least 12 px, with WCAG AA contrast (4.5:1)."""
    look = driver.execute_script(_LOOK, element)
    assert element.is_displayed() and not look["hidden"], f"{what} is not shown"
    assert look["width"] > 0 and look["height"] > 0, f"{what} has no size: {look}"
    assert not look["covered"], f"{what} is covered by another element"
    assert look["font"] >= 12, f"{what}: font {look['font']} px"
    ratio = contrast(look["color"], look["background"])
    assert ratio >= min_contrast, f"{what}: contrast {ratio:.1f}:1 ({look['color']} on {look['background']})"
    assert look["overflow"] <= 1, f"{what} is wider than its box by {look['overflow']} px (cut off on the right)"


def text_of(element: Any) -> str:
    """The element's text as shown, whitespace collapsed (zero-width spaces are invisible: dropped)."""
    return " ".join(element.get_attribute("innerText").replace("\u200b", "").split())


def screenshot(driver: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
