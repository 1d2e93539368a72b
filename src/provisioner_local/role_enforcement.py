"""Each function's own role, enforced: the local stack refuses a function's AWS call its role would not allow.

On AWS every function runs as its execution role, built by SAM from the function's `Policies`
(template.roles), and IAM authorizes every call it makes (policy_evaluation, with what role_requests says
each call needs). moto authorizes nothing for the credentials the functions use here, so this check runs in
the functions' own clients, before moto sees the request: a botocore `before-parameter-build` handler keeps
the call's parameters, and a `before-call` handler decides, answering a refused call the way the service
does (403; `AccessDenied` for IAM and S3, `AccessDeniedException` for the JSON services, with AWS's words),
so the function and the state machine handle it as they would on AWS.

Only calls made while a function's handler runs (faults.current_function), with the role's credentials, are
checked: calls signed with an issued key are checked by the service itself (issued_keys), and the tests' and
the user's own clients are never touched. An operation role_requests does not know is refused, loudly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from botocore.awsrequest import AWSResponse, HTTPHeaders

from provisioner_local import role_calls, role_requests
from provisioner_local.faults import current_function
from provisioner_local.policy_evaluation import AuthorizationRequest, Decision, evaluate
from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID
from provisioner_local.template import FunctionRole

logger = logging.getLogger("provisioner_local")

_PARAMS_KEY: Final = "provisioner_local_role_params"
# The query-protocol services answer AccessDenied; the JSON ones AccessDeniedException.
_ERROR_CODES: Final = {"iam": "AccessDenied", "s3": "AccessDenied", "sts": "AccessDenied"}


class RoleEnforcer:
    """The roles of the running stack's functions, and the hooks that enforce them."""

    def __init__(self, roles: Mapping[str, FunctionRole]) -> None:
        self._lock = threading.Lock()
        self._roles = dict(roles)
        self._refusals: list[tuple[str, str, str]] = []
        # What the checks cost, for `make bench`: calls checked and the time spent deciding.
        self.checked = 0
        self.seconds = 0.0

    @property
    def refusals(self) -> list[tuple[str, str, str]]:
        """(function, action, resource) of every call refused so far."""
        with self._lock:
            return list(self._refusals)

    def add_roles(self, roles: Mapping[str, FunctionRole]) -> None:
        with self._lock:
            self._roles.update(roles)

    def keep_params(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        """botocore `before-parameter-build`: the call's own parameters, for the decision before the call."""
        context[_PARAMS_KEY] = dict(params)

    def before_call(
        self, model: Any, context: dict[str, Any], request_signer: Any = None, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        function = current_function()
        if function is None or not _signed_as_role(request_signer):
            return None
        with self._lock:
            role = self._roles.get(function)
        if role is None:
            return None
        started = time.perf_counter()
        try:
            return self._decide(role, model, context)
        finally:
            with self._lock:
                self.checked += 1
                self.seconds += time.perf_counter() - started

    def _decide(
        self, role: FunctionRole, model: Any, context: dict[str, Any]
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        function = role.function
        service = model.service_model.service_name
        call = role_calls.Call(
            service=service,
            operation=model.name,
            params=context.get(_PARAMS_KEY) or {},
            region=str(context.get("client_region") or ""),
        )
        try:
            requests = role_requests.requests_for(call)
        except role_calls.UnknownOperation as error:
            logger.error("%s: the local stack cannot authorize %s; refused", function, error)
            return self._refuse(role, service, AuthorizationRequest(f"{service}:{model.name}", "*"), None)
        for request in requests:
            decision = evaluate(role.documents, request)
            if not decision.allowed:
                return self._refuse(role, service, request, decision)
        return None

    def _refuse(
        self, role: FunctionRole, service: str, request: AuthorizationRequest, decision: Decision | None
    ) -> tuple[AWSResponse, dict[str, Any]]:
        with self._lock:
            self._refusals.append((role.function, request.action, request.resource))
        message = (
            decision.message(role.session_arn, request)
            if decision is not None
            else f"{request.action} is not known to the local stack's role enforcement (role_requests)"
        )
        logger.info("%s refused: %s on %s", role.function, request.action, request.resource)
        response = AWSResponse(url="", status_code=403, headers=HTTPHeaders(), raw=None)
        parsed = {
            "Error": {"Code": _ERROR_CODES.get(service, "AccessDeniedException"), "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return response, parsed

    def attach(self, session: Any) -> None:
        """A `provisioner_core.aws.SESSION_HOOKS` entry; registered before the fault injector's."""
        session.events.register(
            "before-parameter-build.*.*",
            self.keep_params,
            unique_id=f"provisioner-local-role-params-{id(self)}",
        )
        session.events.register_first(
            "before-call.*.*", self.before_call, unique_id=f"provisioner-local-roles-{id(self)}"
        )


def _signed_as_role(request_signer: Any) -> bool:
    """The function's own credentials (the stack's), not an issued key's."""
    credentials = getattr(request_signer, "_credentials", None)
    return credentials is None or getattr(credentials, "access_key", None) == DUMMY_ACCESS_KEY_ID
