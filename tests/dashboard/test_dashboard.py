"""The dashboard in a real headless Chromium: it renders, every chart has data, and the page
logs no errors."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from esper.projections.projector import Projector
from esper.projections.readonly import LOCKED_DOWN
from esper.projections.server import QueryServer
from tests.bus.events import new_run_id
from tests.projections.test_projector import records
from tests.projections.workload import story

CHARTS = ("runs", "accuracy", "loss", "health", "seeds", "decisions")


@pytest.fixture
def dashboard(tmp_path):
    path = tmp_path / "small.duckdb"
    projector = Projector(path)
    offset = 0
    for run_id in (new_run_id(), new_run_id()):
        events = story(run_id)
        projector.apply(records(events, start=offset))
        offset += len(events)
    projector.close()
    connection = duckdb.connect(str(path), read_only=True, config=LOCKED_DOWN)
    server = QueryServer(connection, 0, timeout_s=10, status=lambda: {}).start()
    yield f"http://127.0.0.1:{server.port}/"
    server.stop()
    connection.close()


@pytest.fixture
def browser(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "make test installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1300",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def test_dashboard_renders_every_chart_with_data_and_no_console_errors(dashboard, browser,
                                                                       tmp_path):
    browser.get(dashboard)

    def points(chart: str) -> int:
        return int(browser.find_element(By.ID, chart).get_attribute("data-points") or 0)

    WebDriverWait(browser, 20).until(lambda _: all(points(c) > 0 for c in CHARTS))
    assert points("runs") == 2
    assert points("seeds") == 4  # the seed's four applied transitions
    assert points("decisions") == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#health rect")) == 6  # 3 layers × 2 epochs
    assert "updated" in browser.find_element(By.ID, "status").text
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
