"""The urllib3 pools of the CORS probe and the Labellerr transport: which proxy, and what an error is made of."""

from __future__ import annotations

import base64
import ssl

import pytest
import urllib3

from provisioner_core import http_pool


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_direct_without_a_proxy_in_the_environment() -> None:
    assert http_pool.proxy_for("https://api.labellerr.com/x") == ""
    manager = http_pool.manager_for("https://api.labellerr.com/x")
    assert not isinstance(manager, urllib3.ProxyManager)
    assert http_pool.manager_for("http://127.0.0.1:1/") is manager


def test_the_proxy_of_the_urls_scheme_with_http_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.internal:8080")
    assert http_pool.proxy_for("https://api.labellerr.com/x") == "http://proxy.internal:3128"
    assert http_pool.proxy_for("http://127.0.0.1:1/") == "http://plain.internal:8080"
    manager = http_pool.manager_for("https://api.labellerr.com/x")
    assert isinstance(manager, urllib3.ProxyManager)
    assert manager.proxy is not None
    assert (manager.proxy.host, manager.proxy.port) == ("proxy.internal", 3128)


def test_no_proxy_exempts_a_host_and_its_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "amazonaws.com,127.0.0.1")
    assert http_pool.proxy_for("https://b.s3.eu-west-1.amazonaws.com/k") == ""
    assert http_pool.proxy_for("https://api.labellerr.com/x") == "http://proxy.internal:3128"


def test_proxy_credentials_in_the_url_become_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://us%40er:p%3Ass@proxy.internal:3128")
    manager = http_pool.manager_for("https://api.labellerr.com/x")
    assert isinstance(manager, urllib3.ProxyManager)
    expected = "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert manager.proxy_headers == {"proxy-authorization": expected}


def test_root_cause_unwraps_urllib3s_wrappers() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        raise urllib3.exceptions.NewConnectionError(None, "Failed to establish") from refused  # type: ignore[arg-type]
    except urllib3.exceptions.NewConnectionError as error:
        wrapped = urllib3.exceptions.ProxyError("Unable to connect to proxy", error)
    assert http_pool.root_cause(wrapped) is refused
    verify = ssl.SSLCertVerificationError("certificate verify failed")
    assert http_pool.root_cause(urllib3.exceptions.SSLError(verify)) is verify
    assert type(http_pool.root_cause(ValueError("plain"))) is ValueError
