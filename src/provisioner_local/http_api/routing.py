"""Route selection as API Gateway does it: most specific path first, a method before ANY, `$default` last."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from provisioner_local.template import HttpRouteSpec


@dataclass(frozen=True)
class _Compiled:
    route: HttpRouteSpec
    # ("lit", text) | ("param", name) | ("greedy", name)
    segments: tuple[tuple[str, str], ...]

    @property
    def priority(self) -> tuple[Any, ...]:
        # Lower sorts first: literal segments before {param} before {greedy+}, left to right; then a
        # named method before ANY; $default after everything.
        if self.route.method is None:
            return (1, (), 0)
        kinds = {"lit": 0, "param": 1, "greedy": 2}
        return (0, tuple(kinds[kind] for kind, _ in self.segments), int(self.route.method == "ANY"))

    def match(self, method: str, segments: Sequence[str]) -> dict[str, str] | None:
        if self.route.method is None:
            return {}
        if self.route.method not in ("ANY", method):
            return None
        params: dict[str, str] = {}
        for index, (kind, text) in enumerate(self.segments):
            if kind == "greedy":
                rest = segments[index:]
                if not rest or not any(rest):
                    return None
                params[text] = unquote("/".join(rest))
                return params
            if index >= len(segments):
                return None
            if kind == "lit":
                if segments[index] != text:
                    return None
            elif not segments[index]:
                return None
            else:
                params[text] = unquote(segments[index])
        return params if len(segments) == len(self.segments) else None


def _compile(route: HttpRouteSpec) -> _Compiled:
    if route.path is None:
        return _Compiled(route=route, segments=())
    segments: list[tuple[str, str]] = []
    for segment in route.path.split("/")[1:]:
        if segment.startswith("{") and segment.endswith("+}"):
            segments.append(("greedy", segment[1:-2]))
        elif segment.startswith("{") and segment.endswith("}"):
            segments.append(("param", segment[1:-1]))
        else:
            segments.append(("lit", segment))
    return _Compiled(route=route, segments=tuple(segments))


class RouteTable:
    """API Gateway HTTP API route selection for one API."""

    def __init__(self, routes: Iterable[HttpRouteSpec]) -> None:
        self._routes = sorted((_compile(route) for route in routes), key=lambda compiled: compiled.priority)

    def match(self, method: str, path: str) -> tuple[HttpRouteSpec, dict[str, str]] | None:
        segments = path.split("/")[1:] if path.startswith("/") else [path]
        for compiled in self._routes:
            params = compiled.match(method.upper(), segments)
            if params is not None:
                return compiled.route, params
        return None
