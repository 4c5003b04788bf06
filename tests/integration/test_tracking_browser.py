"""The tracking page in a real browser (Debian's chromium and chromium-driver, through selenium).

One page load: the recipient sends the parcel to a locker from the page, then the parcel moves on in
the service and the page shows it without a reload. Selenium's calls block, so they run in a thread
while the replica serves on the test's event loop; every wait is a WebDriverWait on a condition.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from marketplace.clock import ManualClock
from marketplace.domain.delivery import ParcelStatus
from marketplace.services.container import Services
from marketplace.settings import Settings
from tests.integration.test_tracking_page import set_status, two_parcels
from tests.live import replica

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 20

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no Chromium here (Debian: apt-get install chromium chromium-driver; .ci/run installs them)",
)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def until(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    """Waits (in a thread, so the server keeps serving) until the condition holds in the page."""
    return await asyncio.to_thread(WebDriverWait(driver, WAIT_S).until, condition)


def text_of(element_id: str) -> Callable[[WebDriver], str]:
    return lambda d: str(d.find_element(By.ID, element_id).text)


async def test_the_page_redirects_to_a_locker_and_shows_a_status_change_without_a_reload(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection, browser: WebDriver
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        await asyncio.to_thread(browser.get, f"http://127.0.0.1:{server.port}/t/{world.my_token}")
        await until(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")
        # A mark on this very document: a reload would lose it.
        await asyncio.to_thread(browser.execute_script, "window.loadedOnce = true;")
        assert "To your address" in await asyncio.to_thread(text_of("dropoff"), browser)

        # The recipient picks the locker and sends the parcel there, from the page.
        def choose_locker(d: WebDriver) -> None:
            Select(d.find_element(By.ID, "locker")).select_by_index(0)
            d.find_element(By.ID, "redirect-locker").click()

        await asyncio.to_thread(choose_locker, browser)
        await until(
            browser, lambda d: d.find_element(By.ID, "redirect-result").get_attribute("data-outcome") == "saved"
        )
        await until(browser, lambda d: "Oost station locker" in d.find_element(By.ID, "dropoff").text)
        # The change came back through the subscription as a line of the timeline, and is in the database.
        await until(browser, lambda d: "You changed the delivery" in d.find_element(By.ID, "timeline").text)
        locker = await db.fetchval(
            "SELECT j.dropoff_locker_id FROM jobs j JOIN parcels p ON p.job_id = j.id WHERE p.id = $1",
            world.mine.parcel_uuids[0],
        )
        assert locker == world.locker.id

        # The parcel moves on in the service: the page follows, with no reload.
        await set_status(services, world.mine.parcel_uuids[0], ParcelStatus.OFFERED)
        await until(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-status") == "OFFERED")
        assert "a courier is being found" in await asyncio.to_thread(text_of("timeline"), browser)
        # Offered is not yet out for delivery: the recipient may still redirect (the offer is withdrawn).
        assert await asyncio.to_thread(lambda: browser.find_element(By.ID, "redirect").is_displayed())
        # Once the courier is at the store it is too late, and the page says so by hiding the choice.
        await set_status(services, world.mine.parcel_uuids[0], ParcelStatus.ASSIGNED)
        await set_status(services, world.mine.parcel_uuids[0], ParcelStatus.AT_PICKUP)
        await until(browser, lambda d: d.find_element(By.ID, "status").get_attribute("data-status") == "AT_PICKUP")
        await until(browser, lambda d: not d.find_element(By.ID, "redirect").is_displayed())
        assert await asyncio.to_thread(browser.execute_script, "return window.loadedOnce === true;") is True
