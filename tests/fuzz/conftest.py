"""The fuzz suite's local stack: the session's running one (tests/flow's), else one of its own.

Only one embedded stack should serve the session: when tests/flow already started one from the project's
template, the fuzz tests use it (and leave it running); otherwise the first fuzz test starts one, which stops
when the last test of tests/fuzz is done, so a suite that runs later and starts its own stack (tests/flow's
session fixture does not look for a running one) never has a second one running beside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner_local.emulator import LocalStack


def _is_the_projects_stack(stack: LocalStack) -> bool:
    """tests/local starts stacks from fixture templates; only one from template.yaml with its API will do."""
    project_template = (stack.project_root / "template.yaml").resolve()
    return stack.template_path == project_template and "ConnectionsApi" in stack.http_apis


@pytest.fixture(scope="package")
def local_stack() -> Iterator[LocalStack]:
    running = LocalStack.current()
    if running is not None and _is_the_projects_stack(running):
        yield running
        return
    with LocalStack(port=0) as started:
        yield started


@pytest.fixture(scope="package")
def api_url(local_stack: LocalStack) -> str:
    url = local_stack.api_url
    assert url.startswith("http://127.0.0.1:"), f"the fuzz tests only ever talk to loopback, not {url}"
    return url
