"""The event viewer in a real browser: Debian's chromium through chromedriver (Selenium), against
a running `eventwire dev up examples/channel-fanout/`. Screenshots land in build/ for review."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.devmode.devup import REPO, dev_up
from tests.support.sink import Received, Reply, Sink
from tests.support.waiting import eventually_async

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = REPO / "build"
T = TypeVar("T")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "chromium is missing: run scripts/setup-services.sh (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


async def until(probe: Callable[[], T | None], within: float, what: str) -> T:
    """The shared `eventually_async`, calling `probe` in a thread (WebDriver calls block)."""
    result: T = await eventually_async(lambda: asyncio.to_thread(probe), timeout=within, what=what)
    return result


async def open_viewer(browser: WebDriver, url: str) -> set[str | None]:
    """Load the viewer, wait for its live stream and graph; the graph's node ids."""
    await asyncio.to_thread(browser.get, url)
    await until(
        lambda: browser.find_element(By.ID, "connection").text == "live", 10, "the live stream to connect"
    )
    nodes = await until(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#graph .node"), 10, "the topology graph"
    )
    return {n.get_attribute("data-id") for n in nodes}


def refuse_doomed(_: int, request: Received) -> Reply:
    return Reply(500 if request.headers.get("ce-type") == "demo.doomed" else 202)


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# The list re-renders on every change; reading it in one script call never sees half of it.
def shown_types(driver: WebDriver) -> list[str]:
    types: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#events li')].map(li => li.dataset.type)"
    )
    return types


def row_badges(driver: WebDriver, event_type: str) -> list[str]:
    badges: list[str] = driver.execute_script(
        "const li = [...document.querySelectorAll('#events li')].find(li => li.dataset.type === arguments[0]);"
        "return li ? [...li.querySelectorAll('.badge')].map(b => b.textContent) : [];",
        event_type,
    )
    return badges


async def test_the_viewer_shows_the_topology_live_events_outcomes_filters_and_detail(
    browser: WebDriver, tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    async with (
        Sink.start(refuse_doomed) as audit,
        dev_up(
            "examples/channel-fanout/", "--service", f"audit={audit.url}", state=tmp_path / "state.json"
        ) as dev,
    ):
        labels = await open_viewer(browser, dev.viewer)
        assert {
            "source:shop/shop-repo",
            "channel:shop/orders",
            "channel:shop/enriched",
            "subscription:shop/orders-to-enricher",
            "service:shop/audit",
        } <= labels
        assert len(browser.find_elements(By.CSS_SELECTOR, "#graph path.edge.reply")) == 1

        # An event sent appears without a reload (the live stream), with each delivery's outcome.
        # The bound is a loaded machine's; how fast it shows is not a unit test's business.
        code, out = await dev.send("orders", "--type", "demo.order", "--data", '{"item": "tea", "n": 1}')
        assert code == 0, out
        await until(lambda: "demo.order" in shown_types(browser), 10, "the sent event in the list")
        badges = await until(
            lambda: [b for b in row_badges(browser, "demo.order") if "in flight" not in b] or None,
            5,
            "the outcomes",
        )
        assert "orders-to-audit: delivered" in badges
        assert "orders-to-enricher: delivered" in badges

        # The audit service refuses this one: retried (the example's 5 retries, 0.5 s doubling),
        # then dead-lettered to the example's dead-letters Service (the display service).
        code, out = await dev.send("orders", "--type", "demo.doomed", "--data", "{}")
        assert code == 0, out
        retrying = await until(
            lambda: [b for b in row_badges(browser, "demo.doomed") if "retrying" in b] or None,
            10,
            "the retries",
        )
        assert retrying[0].startswith("orders-to-audit: retrying: attempt ")
        doomed = await until(
            lambda: [b for b in row_badges(browser, "demo.doomed") if "dead-lettered" in b] or None,
            40,
            "the dead letter",
        )
        assert doomed == ["orders-to-audit: dead-lettered after 6 attempts"]

        code, out = await dev.send("--github", "issues")
        assert code == 0, out
        await until(lambda: "dev.knative.source.github.issues" in shown_types(browser), 5, "the webhook")

        # Filters: by type, by source, by channel.
        type_filter = browser.find_element(By.ID, "filter-type")
        type_filter.send_keys("github")
        await until(
            lambda: shown_types(browser) == ["dev.knative.source.github.issues"], 5, "the type filter"
        )
        type_filter.clear()
        browser.find_element(By.ID, "filter-source").send_keys("/eventwire/dev")
        await until(
            lambda: sorted(shown_types(browser)) == ["demo.doomed", "demo.order"], 5, "the source filter"
        )
        browser.find_element(By.ID, "filter-source").clear()
        code, out = await dev.send("enriched", "--type", "demo.enriched", "--data", "{}")
        assert code == 0, out
        Select(browser.find_element(By.ID, "filter-channel")).select_by_value("shop/enriched")
        await until(lambda: shown_types(browser) == ["demo.enriched"], 5, "the channel filter")
        Select(browser.find_element(By.ID, "filter-channel")).select_by_value("")
        browser.find_element(By.ID, "filter-subject").send_keys("1")
        await until(
            lambda: shown_types(browser) == ["dev.knative.source.github.issues"], 5, "the subject filter"
        )
        browser.find_element(By.ID, "filter-subject").clear()
        await until(lambda: len(shown_types(browser)) == 4, 5, "all events again")

        # The detail: every attribute, the data pretty-printed.
        browser.execute_script(
            "[...document.querySelectorAll('#events li')].find(li => li.dataset.type === 'demo.order').click()"
        )
        detail = await until(
            lambda: browser.find_element(By.ID, "detail").is_displayed() or None, 5, "the detail panel"
        )
        assert detail
        attributes = browser.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#detail-attributes tr')]"
            ".map(tr => [...tr.cells].map(td => td.textContent)))"
        )
        assert attributes["type"] == "demo.order"
        assert attributes["source"] == "/eventwire/dev/send"
        assert attributes["datacontenttype"] == "application/json"
        assert {"id", "specversion", "time"} <= attributes.keys()
        assert browser.find_element(By.ID, "detail-data").text == '{\n  "item": "tea",\n  "n": 1\n}'
        browser.save_screenshot(str(SCREENSHOTS / "eventwire-dev-viewer.png"))

        # A phone-sized window still shows the list without horizontal scrolling.
        browser.set_window_size(390, 844)
        await until(
            lambda: browser.execute_script("return document.documentElement.clientWidth") <= 390,
            5,
            "the page laid out at the phone's width",
        )
        browser.save_screenshot(str(SCREENSHOTS / "eventwire-dev-viewer-phone.png"))
        wide = browser.execute_script(
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1"
            " && !e.parentElement.closest('.graph-scroll'))"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
        )
        assert wide == [], "wider than a phone's window"
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        assert console_errors(browser) == []


async def test_the_viewer_shows_brokers_triggers_and_events_no_trigger_selects(
    browser: WebDriver, tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    async with dev_up("examples/broker-mesh/", state=tmp_path / "state.json") as dev:
        labels = await open_viewer(browser, dev.viewer)
        assert {
            "broker:shop/shop",
            "trigger:shop/pushes",
            "trigger:shop/reviews",
            "service:shop/ci",
        } <= labels
        assert browser.find_elements(By.CSS_SELECTOR, "#graph .node.bad") == []

        code, out = await dev.send("shop", "--type", "demo.nobody", "--data", "{}")
        assert code == 0, out
        await until(
            lambda: row_badges(browser, "demo.nobody") == ["accepted: no trigger matched"],
            5,
            "the event no Trigger selects",
        )
        code, out = await dev.send("shop", "--type", "dev.knative.source.github.push", "--data", "{}")
        assert code == 0, out
        badges = await until(
            lambda: (
                [b for b in row_badges(browser, "dev.knative.source.github.push") if "in flight" not in b]
                or None
            ),
            5,
            "the Triggers' outcomes",
        )
        assert sorted(badges) == ["audit: delivered", "pushes: delivered"]
        Select(browser.find_element(By.ID, "filter-channel")).select_by_value("broker:shop/shop")
        browser.save_screenshot(str(SCREENSHOTS / "eventwire-dev-viewer-broker.png"))
        assert console_errors(browser) == []
