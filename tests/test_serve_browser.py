"""The map page of ``earth4d-gis serve`` in a real headless Chromium (Debian's, driven by Selenium).

Selenium is pointed at the system ``chromium`` and ``chromedriver`` (installed by scripts/setup_env.sh), so
nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from encoder_specs import small_spec
from serve_support import DATE, make_model, running_server

from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.geodesy import TimeSpan

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NEW_DATE = "2019-03-15"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = small_spec((6, 12, 5e3, 50.0), (2, 10, 1e6, 5e5))
    model = make_model(
        tmp_path_factory.mktemp("browser") / "alps.pt", EncoderConfig.from_spec("t", spec, TimeSpan())
    )
    with running_server(model) as (url, _line):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(), "run scripts/setup_env.sh (chromium)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(argument)
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: object, script: str, timeout: float = 90.0) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(script))


LOADED_TILES = "return [...document.querySelectorAll('img.leaflet-tile-loaded')].map(i => i.src)"


def test_the_map_loads_tiles_and_the_date_slider_requests_new_ones(
    browser: object, server: str, tmp_path: Path
) -> None:
    from PIL import Image

    browser.get(server)  # type: ignore[attr-defined]
    _wait(browser, "return document.body.dataset.ready === 'true'")
    first = _wait(browser, f"const s = {LOADED_TILES[7:]}; return s.length >= 4 ? s : null")
    assert all(f"date={DATE}" in src and "/tiles/" in src for src in first)
    assert "alps" in browser.find_element("id", "model-name").text  # type: ignore[attr-defined]

    browser.execute_script(  # type: ignore[attr-defined]
        """const slider = document.getElementById('date-slider');
        const origin = Date.parse(document.getElementById('date-box').min + 'T00:00:00Z');
        slider.value = Math.round((Date.parse(arguments[0] + 'T00:00:00Z') - origin) / 86400000);
        slider.dispatchEvent(new Event('input'));
        slider.dispatchEvent(new Event('change'));""",
        NEW_DATE,
    )
    assert browser.find_element("id", "date-box").get_attribute("value") == NEW_DATE  # type: ignore[attr-defined]
    requested = _wait(
        browser,
        f"const r = performance.getEntriesByType('resource').map(e => e.name)"
        f".filter(n => n.includes('date={NEW_DATE}')); return r.length ? r : null",
    )
    assert all("/tiles/" in url for url in requested)
    _wait(
        browser,
        f"const s = {LOADED_TILES[7:]}; return s.filter(u => u.includes('date={NEW_DATE}')).length >= 4",
    )

    _wait(browser, "return document.getElementById('status').textContent === ''", timeout=180)  # all loaded
    shot = tmp_path / "map.png"
    browser.save_screenshot(str(shot))  # type: ignore[attr-defined]
    keep = os.environ.get("EARTH4D_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "serve_map.png")
    with Image.open(io.BytesIO(shot.read_bytes())) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    map_area = pixels[:, 340:]  # right of the panel: the tiles
    assert map_area.std() > 10, "the map area of the screenshot is blank"
    assert len(np.unique(map_area.reshape(-1, 3), axis=0)) > 200
