"""The real-browser tier: headless Chromium loads a bucket's image from a page on another origin.

Chromium comes from the system's packages (Debian: `apt-get install -y chromium`; `make test` installs it when it may). When
it is missing the tier fails and says how to install it: CORS that was never tried in a browser is not proven.

Nothing is downloaded at run time and no driver is needed: Chromium opens the page, the page posts what it
saw back to the server that served it, and the test stops Chromium. `--host-resolver-rules` maps the test
origins' host names to 127.0.0.1, so a page served on loopback has the origin `http://pro.labellerr.com:<port>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner_local.emulator import LocalStack
from tests.support.browser import Browser, PageServer, chromium_binary

FIXTURE_TEMPLATE = Path(__file__).parents[1] / "local" / "fixtures" / "template.yaml"


@pytest.fixture(scope="session")
def chromium() -> str:
    return chromium_binary()


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with LocalStack(template_path=FIXTURE_TEMPLATE, enforce_iam=True) as running:
        yield running


@pytest.fixture(scope="package")
def page_server() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture
def browser(chromium: str, page_server: PageServer) -> Browser:
    return Browser(chromium, page_server)
