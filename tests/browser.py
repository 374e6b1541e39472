"""Headless Chromium for the HTML viewer's tests and benchmark (Selenium, network off).

Chromium and chromedriver come from Debian (``.ci/install-browser.sh``); :func:`missing`
says what is absent so that a test can skip with that reason.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from typing import Any, Optional

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
#: Chromium flags: headless, no GPU (WebGL through SwiftShader), nothing fetched from the
#: network (every request goes to a proxy on a closed port), a fresh profile.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--window-size=1280,1600",
)


def _which(names: tuple[str, ...]) -> Optional[str]:
    return next((p for p in (shutil.which(n) for n in names) if p), None)


def missing() -> Optional[str]:
    """Why no browser test can run here (None when chromium, chromedriver and selenium exist)."""
    if _which(CHROMIUM) is None or _which(CHROMEDRIVER) is None:
        return (
            "chromium/chromedriver not installed (to run these tests: sudo apt-get install -y chromium "
            "chromium-driver, or .ci/install-browser.sh as root)"
        )
    try:
        import selenium  # noqa: F401 (imported only to see whether it is installed)
    except ImportError:
        return "selenium not installed (pip install selenium)"
    return None


def chrome() -> Any:
    """A headless Chromium WebDriver with browser console logging on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in FLAGS + (f"--user-data-dir={tempfile.mkdtemp(prefix='snnsim-chrome-')}",):
        opts.add_argument(flag)
    opts.binary_location = _which(CHROMIUM)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(_which(CHROMEDRIVER)))


PLOTLY_DRAWN = (
    "const g = document.querySelector('.js-plotly-plot');"
    "return !!(g && g._fullData && g._fullData.length && g.querySelector('canvas'));"
)
BOKEH_DRAWN = (
    "return !!(window.Bokeh && Bokeh.documents.length && Bokeh.index"
    " && (Bokeh.index.size ?? Object.keys(Bokeh.index).length) > 0);"
)


def wait_drawn(driver: Any, bokeh: bool = False, timeout: float = 60.0) -> None:
    """Wait until the page's plot exists, then one animation frame (it has been painted)."""
    end = time.monotonic() + timeout
    while not driver.execute_script(BOKEH_DRAWN if bokeh else PLOTLY_DRAWN):
        if time.monotonic() > end:
            raise TimeoutError("the plot was not drawn in time")
        time.sleep(0.05)
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
