"""Open every built page in headless Chromium and check what a reader sees.

The site from ``test_docs.build_site`` is served by an ``http.server`` on
127.0.0.1. For each page the test waits for MathJax, then checks that every
formula is typeset without error, every image loads, every internal link
resolves, and that the browser requested nothing outside 127.0.0.1.

Needs Debian's ``chromium`` and ``chromium-driver`` packages. Without them the
tests are skipped, unless ``REQUIRE_BROWSER=1`` is set, which makes them fail.
Set ``DOCS_SCREENSHOTS=DIR`` to save a screenshot of every page into DIR.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
from test_docs import DOCS, build_site, pages

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Schemes that never reach the network: inline data and the browser's own pages
# (Chromium opens chrome:// pages of its new tab before the first page loads).
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-untrusted"}

if not (CHROMIUM and CHROMEDRIVER):
    reason = (
        "headless browser tests need Chromium and its driver: "
        "apt-get install chromium chromium-driver"
    )
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
function wait() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done("ok"), (error) => done(String(error)));
  } else {
    setTimeout(wait, 50);
  }
}
wait();
"""

# The page text outside code blocks, where no TeX or Sphinx role should be left.
READ_PAGE = r"""
const body = document.querySelector("article") || document.body;
const copy = body.cloneNode(true);
copy.querySelectorAll("pre, code, mjx-container").forEach((e) => e.remove());
const images = Array.from(document.images).map((i) => ({
  src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth}));
return {
  arithmatex: document.querySelectorAll(".arithmatex").length,
  typeset: document.querySelectorAll(".arithmatex mjx-container").length,
  containers: document.querySelectorAll("mjx-container").length,
  errors: Array.from(document.querySelectorAll("[data-mjx-error], mjx-merror"))
    .map((e) => e.getAttribute("data-mjx-error") || e.textContent),
  text: copy.textContent,
  images: images,
  links: Array.from(document.querySelectorAll("a[href]")).map(
    (a) => new URL(a.getAttribute("href"), document.baseURI).href),
  ids: Array.from(document.querySelectorAll("[id]")).map((e) => e.id),
  resources: performance.getEntriesByType("resource").map((r) => r.name),
};
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(build_site()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
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
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability(
        "goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"}
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def site_pages() -> list[str]:
    """Return the built page of every Markdown file, without building the site.

    The offline plugin turns off directory URLs, so ``a/b.md`` becomes
    ``a/b.html``.
    """
    return [str(p.relative_to(DOCS).with_suffix(".html")) for p in pages()]


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Return every URL that the page requested since the last call (CDP log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def is_local(url: str, base: str) -> bool:
    return urlsplit(url).scheme in LOCAL_SCHEMES or url.startswith(base)


@functools.cache
def anchors(url: str) -> set[str]:
    """Return the element ids of the page at ``url`` (raises if not found)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        html = response.read().decode("utf-8")
    return set(re.findall(r"""\bid=["']?([^"'\s>]+)""", html))


def save_screenshot(driver: webdriver.Chrome, folder: Path, page: str) -> None:
    """Save a screenshot of the whole page, at most 12000 pixels high."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height), 12000))
    driver.save_screenshot(
        str(folder / page.replace("/", "_").replace(".html", ".png"))
    )
    driver.set_window_size(1400, 1000)


@pytest.mark.parametrize("page", site_pages())
def test_page_renders_offline(page, server, browser):
    browser.get_log("performance")
    browser.get(server + page)

    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok"
    seen = browser.execute_script(READ_PAGE)
    if os.environ.get("DOCS_SCREENSHOTS"):
        save_screenshot(browser, Path(os.environ["DOCS_SCREENSHOTS"]), page)

    assert seen["typeset"] == seen["arithmatex"], "formulas left untypeset"
    assert seen["containers"] == seen["arithmatex"]
    assert seen["errors"] == [], "MathJax could not typeset these formulas"
    for raw in ("\\(", "\\)", "\\[", "\\eqref", "\\begin{", ":func:", ":mod:"):
        assert raw not in seen["text"], f"unrendered {raw!r} in the page text"
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 0, image["src"]
    outside = [
        url
        for url in requested_urls(browser) + seen["resources"]
        if not is_local(url, server)
    ]
    assert outside == [], "the page made requests outside 127.0.0.1"
    errors = [
        e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
    ]
    assert errors == [], "the browser console reported errors"
    for link in seen["links"]:
        if not link.startswith(server):
            continue
        target, fragment = urldefrag(link)
        if target == server + page:
            # MathJax adds the equation anchors at read time.
            ids = set(seen["ids"])
        else:
            try:
                ids = anchors(target)
            except urllib.error.HTTPError as error:
                pytest.fail(f"link {link} is broken: {error}")
        fragment = unquote(fragment)
        assert not fragment or fragment in ids, f"link {link}: no such anchor"


def test_search_finds_backpropagation(server, browser):
    browser.get(server + "index.html")
    browser.find_element(By.CSS_SELECTOR, "label.md-search__icon, .md-search__input")
    browser.execute_script("document.querySelector('.md-search__input').focus();")
    field = browser.find_element(By.CSS_SELECTOR, ".md-search__input")
    field.send_keys("backpropagation")

    results = WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
    )

    targets = [r.get_attribute("href") for r in results]
    assert any("course/backpropagation.html" in t for t in targets), targets
