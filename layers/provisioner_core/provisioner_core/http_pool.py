"""urllib3 pools for the two HTTP clients that are not AWS SDK calls: the CORS probe, Labellerr's transport.

urllib3 ships with botocore and `import boto3` has loaded it already, as it has urllib.request (botocore's
proxy lookup), so these imports add nothing to a cold start. The pools live as long as the execution
environment: a warm invocation reuses their connections. Neither pool retries or follows a redirect: the
state machine retries, and a redirect is an answer to report (it would also carry the api_secret elsewhere).
"""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from typing import Final

import urllib3

_POOLS_PER_MANAGER: Final = 4
# Managers by proxy URL ("" for direct); a Lambda's environment does not change between invocations.
_managers: dict[str, urllib3.PoolManager] = {}


def proxy_for(url: str) -> str:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as botocore reads
    them), or "" for a direct connection. urllib3 reads no environment variable by itself."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme, "")
    if not proxy or bool(urllib.request.proxy_bypass(parts.hostname or "")):
        return ""
    # "proxy:3128" means http://proxy:3128 to curl, urllib and botocore alike.
    return proxy if "://" in proxy else f"http://{proxy}"


def manager_for(url: str) -> urllib3.PoolManager:
    """The pool manager for `url`: a ProxyManager (CONNECT tunnel for https) when a proxy applies."""
    proxy = proxy_for(url)
    manager = _managers.get(proxy)
    if manager is None:
        if proxy:
            manager = urllib3.ProxyManager(
                proxy, _POOLS_PER_MANAGER, proxy_headers=_proxy_auth(proxy), retries=False
            )
        else:
            manager = urllib3.PoolManager(_POOLS_PER_MANAGER, retries=False)
        _managers[proxy] = manager
    return manager


def _proxy_auth(proxy: str) -> dict[str, str]:
    # urllib3 ignores a user:password in the proxy URL; botocore and urllib send it as basic auth.
    parts = urllib.parse.urlsplit(proxy)
    if parts.username is None:
        return {}
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return {"proxy-authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def root_cause(error: BaseException) -> BaseException:
    """The error under urllib3's wrappers (NewConnectionError, SSLError, ProxyError, ProtocolError): its
    class name says what went wrong without the wrapper's message, which names hosts and proxies."""
    seen = {id(error)}
    while True:
        inner = error.__cause__ or next(
            (arg for arg in reversed(error.args) if isinstance(arg, BaseException)), None
        )
        if inner is None or id(inner) in seen:
            return error
        seen.add(id(inner))
        error = inner


def discard(response: urllib3.BaseHTTPResponse) -> None:
    """Ends an answer whose body was not read to its end: its connection cannot serve another request."""
    response.close()
    response.release_conn()
