"""The CORS probe's wire: one unsigned request as a browser sends it, and the answer's status and headers.

On urllib3 (http_pool): a connect timeout and a separate read timeout, so a probe cannot hang a Lambda on a
slow read after a quick connect; certificates verified; no redirect followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from urllib.parse import urlsplit

import urllib3

from provisioner_core.http_pool import discard, manager_for, root_cause

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
_MAX_BODY = 4096


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP answer with lower-case header names; status 0 when no answer came (`error` says why)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def header_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.headers.get(name, "").split(",") if item.strip()]


def send_request(
    url: str,
    headers: Mapping[str, str],
    *,
    method: str = "OPTIONS",
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> HttpAnswer:
    """One unsigned request, no redirects followed (a 301 from the wrong region is an answer to report)."""
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        return HttpAnswer(0, error=f"unsupported URL scheme {scheme!r}")
    try:
        response = manager_for(url).request(
            method,
            url,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        try:
            response.read(_MAX_BODY)
        finally:
            if not response.closed:
                discard(response)
    except (urllib3.exceptions.HTTPError, OSError, HTTPException) as error:
        # The URL is the bucket's, no secret: the cause's own words help whoever reads the check.
        cause = root_cause(error)
        return HttpAnswer(0, error=f"{type(cause).__name__}: {cause}")
    # Merged: a header sent twice reads as one comma-separated list, which is how header_list splits it.
    return HttpAnswer(response.status, {name.lower(): value for name, value in response.headers.itermerged()})
