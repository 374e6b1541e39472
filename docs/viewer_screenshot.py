"""Screenshot of an HTML page of ``snnsim view RUN --html FILE`` in headless Chromium (for the README).

Run: ``.venv/bin/python docs/viewer_screenshot.py FILE.html docs/_static/viewer_mnist.png`` (the page shows
the sample that ``snnsim view --sample`` chose).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import chrome, missing, wait_drawn


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("html", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument("--size", default="1280,1500", help="window width,height in pixels")
    args = p.parse_args()
    if missing():
        print(missing(), file=sys.stderr)
        return 2
    driver = chrome()
    try:
        driver.set_window_size(*(int(v) for v in args.size.split(",")))
        driver.get(args.html.resolve().as_uri())
        wait_drawn(driver)
        driver.save_screenshot(str(args.png))
    finally:
        driver.quit()
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
