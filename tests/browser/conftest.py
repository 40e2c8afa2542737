"""The ``browser`` fixture: a headless Chromium driven by Selenium (tests/helpers/browser.py).

Tests that use it are marked ``browser`` (tests/conftest.py); ``make test-fast`` leaves them out. They skip only
when no Chromium and chromedriver can be found (``make setup`` installs Debian's ``chromium`` and
``chromium-driver`` when run as root); Selenium itself is a dev dependency and must be there.
"""

from __future__ import annotations

import pytest

from helpers.browser import find_chromium, start_browser


@pytest.fixture
def browser():
    found = find_chromium()
    if found is None:
        pytest.skip("no Chromium: make setup installs it as root (apt-get install chromium chromium-driver); "
                    "or set PREFKIT_CHROMIUM and PREFKIT_CHROMEDRIVER")
    driver = start_browser(*found)
    try:
        yield driver
    finally:
        driver.quit()
