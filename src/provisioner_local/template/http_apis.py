"""HTTP APIs: HttpApiSpec and its routes, from AWS::Serverless::HttpApi and the functions' HttpApi events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import IMPLICIT_HTTP_API, api_id
from provisioner_local.template.resources import ResourceReader
from provisioner_local.template.values import as_cfn_string

HTTP_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
DEFAULT_ROUTE: Final = "$default"


@dataclass(frozen=True)
class HttpRouteSpec:
    """One `HttpApi` event of a function: `METHOD /path` (or `$default`) of one API."""

    function_logical_id: str
    event_id: str
    # None for the $default route.
    method: str | None
    path: str | None
    iam_auth: bool = False

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.method is None else f"{self.method} {self.path}"


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    api_id: str
    stage_name: str
    routes: tuple[HttpRouteSpec, ...]


class HttpApiReader(ResourceReader):
    """The template's HTTP APIs (SAM's implicit one included) with the routes of its functions."""

    def _uses_implicit_http_api(self) -> bool:
        for _, resource in self._of_type("AWS::Serverless::Function"):
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if (
                    isinstance(event, dict)
                    and event.get("Type") == "HttpApi"
                    and "ApiId" not in (event.get("Properties") or {})
                ):
                    return True
        return False

    def _http_api_of(self, node: Any, where: str) -> str:
        """The logical id of the AWS::Serverless::HttpApi an HttpApi event's ApiId points to."""
        if node is None:
            return IMPLICIT_HTTP_API
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in self.resources:
            logical_id = str(node["Ref"])
        else:
            resolved = self.resolve_string(node, where)
            by_id = {api_id(logical_id): logical_id for logical_id in self.resources}
            if resolved not in by_id:
                raise TemplateError(f"{where}: ApiId {resolved!r} is not an HttpApi of this template")
            logical_id = by_id[resolved]
        if self._resource_type(logical_id) != "AWS::Serverless::HttpApi":
            raise TemplateError(f"{where}: {logical_id} is not an AWS::Serverless::HttpApi")
        return logical_id

    def http_apis(self) -> list[HttpApiSpec]:
        """Every AWS::Serverless::HttpApi (and SAM's implicit one) with the routes of its functions."""
        routes: dict[str, list[HttpRouteSpec]] = {}
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_id, event in events.items():
                if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                    continue
                where = f"Resources.{logical_id}.Properties.Events.{event_id}.Properties"
                raw = dict(event.get("Properties") or {})
                api = self._http_api_of(raw.get("ApiId"), f"{where}.ApiId")
                routes.setdefault(api, []).append(self._http_route(logical_id, event_id, api, raw, where))
        apis = [logical_id for logical_id, _ in self._of_type("AWS::Serverless::HttpApi")]
        if IMPLICIT_HTTP_API in routes and IMPLICIT_HTTP_API not in apis:
            apis.append(IMPLICIT_HTTP_API)
        specs = []
        for logical_id in apis:
            api_routes = routes.get(logical_id, [])
            seen: dict[str, str] = {}
            for route in api_routes:
                if route.route_key in seen:
                    raise TemplateError(
                        f"{logical_id}: route {route.route_key!r} is declared by both "
                        f"{seen[route.route_key]} and {route.function_logical_id}.{route.event_id}"
                    )
                seen[route.route_key] = f"{route.function_logical_id}.{route.event_id}"
            stage = (
                "$default"
                if logical_id not in self.resources
                else self._named(logical_id, "StageName", "$default")
            )
            specs.append(
                HttpApiSpec(
                    logical_id=logical_id,
                    api_id=api_id(logical_id),
                    stage_name=stage,
                    routes=tuple(api_routes),
                )
            )
        return specs

    def _api_default_iam(self, api: str) -> bool:
        if api not in self.resources:
            return False
        auth = self._property(api, "Auth") or {}
        return isinstance(auth, dict) and auth.get("DefaultAuthorizer") == "AWS_IAM"

    def _http_route(
        self, function: str, event_id: str, api: str, raw: Mapping[str, Any], where: str
    ) -> HttpRouteSpec:
        properties = self.resolve({key: value for key, value in raw.items() if key != "ApiId"}, where)
        version = str(properties.get("PayloadFormatVersion", "2.0"))
        if version != "2.0":
            raise TemplateError(f"{where}.PayloadFormatVersion: only 2.0 is emulated locally, not {version}")
        method = properties.get("Method")
        path = properties.get("Path")
        if method is None and path is None:
            return HttpRouteSpec(function_logical_id=function, event_id=event_id, method=None, path=None)
        if method is None or path is None:
            raise TemplateError(f"{where}: give both Method and Path, or neither (the $default route)")
        method = as_cfn_string(method, f"{where}.Method").upper()
        if method not in HTTP_METHODS:
            raise TemplateError(f"{where}.Method: {method!r} is not an HTTP method API Gateway routes")
        path = as_cfn_string(path, f"{where}.Path")
        _check_route_path(path, f"{where}.Path")
        authorizer = (properties.get("Auth") or {}).get("Authorizer")
        iam = self._api_default_iam(api) if authorizer is None else authorizer == "AWS_IAM"
        return HttpRouteSpec(
            function_logical_id=function, event_id=event_id, method=method, path=path, iam_auth=iam
        )


_ROUTE_SEGMENT = re.compile(r"\{[A-Za-z0-9_.-]+\+?\}|[^{}]*")


def _check_route_path(path: str, where: str) -> None:
    if not path.startswith("/"):
        raise TemplateError(f"{where}: {path!r} must start with /")
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        if not _ROUTE_SEGMENT.fullmatch(segment):
            raise TemplateError(f"{where}: {path!r}: a segment is either literal or one {{parameter}}")
        if segment.endswith("+}") and index != len(segments) - 1:
            raise TemplateError(f"{where}: {path!r}: a greedy {{name+}} must be the last segment")
