"""API Gateway HTTP APIs on 127.0.0.1: routes from the template, payload format 2.0, in-process handlers.

Each AWS::Serverless::HttpApi gets a small threaded HTTP server. A request is matched to a route the way API
Gateway does (most specific path first, a method before ANY, `$default` last), turned into a payload format
2.0 event, handed to the route's function, and the function's result turned back into an HTTP response.

Not emulated: authorization. The deployed API may require SigV4 (AWS_IAM); locally no signature is checked and
any caller gets through. For routes with AWS_IAM auth the event still carries `requestContext.authorizer.iam`,
filled from the request's `Authorization` header (access key id only, unverified) and the local account.
Also not emulated: CORS preflight handling, custom domains, throttling, the 30 s integration timeout, and
OpenAPI `DefinitionBody` routes (only the functions' `HttpApi` events make routes).

The modules: routing (which route a request takes), event (the payload format 2.0 event), response (the
function's result as an HTTP response, and API Gateway's error bodies), server (the HTTP server of one API,
and LocalHttpApi, which runs it).
"""

from __future__ import annotations

from provisioner_local.http_api.event import Request, build_event, is_text_content
from provisioner_local.http_api.response import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    NOT_FOUND,
    TOO_LARGE,
    BadLambdaResponse,
    Response,
    http_response,
)
from provisioner_local.http_api.routing import RouteTable
from provisioner_local.http_api.server import MAX_BODY_BYTES, Invoke, LocalHttpApi

__all__ = [
    "BAD_REQUEST",
    "INTERNAL_ERROR",
    "MAX_BODY_BYTES",
    "NOT_FOUND",
    "TOO_LARGE",
    "BadLambdaResponse",
    "Invoke",
    "LocalHttpApi",
    "Request",
    "Response",
    "RouteTable",
    "build_event",
    "http_response",
    "is_text_content",
]
