"""Lambda's concurrency for the benchmark's many-at-once phase: one execution environment per invocation.

The local stack runs each function as one execution environment, one invocation at a time (LoadedFunction's
lock), and all functions share one `provisioner_core.aws` module, hence one client per service. Lambda
instead gives each concurrent invocation an environment of its own ("Lambda execution environment
lifecycle"; concurrency: one request per environment at a time), so in AWS 100 onboardings reach IAM
together, and each client retries with its own retry quota and, in adaptive mode, its own rate limiter.
Under throttling the difference decides the outcome: one environment per function turns the functions into
a queue that paces IAM by itself, and one shared client pools every caller's retry quota.

`concurrent_environments(stack, n)` lets up to `n` invocations of each function run at once and gives
each thread (the interpreter runs each execution in a thread of its own) its own clients,
for the length of a block. Module-level state other than the clients (a Powertools logger's keys) stays
shared between concurrent invocations: log lines may carry another run's keys, which no figure reads.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def concurrent_environments(stack: Any, concurrency: int) -> Iterator[None]:
    import provisioner_core.aws as aws

    saved_functions = dict(stack.functions)
    for name, loaded in saved_functions.items():
        stack.functions[name] = dataclasses.replace(loaded, lock=threading.BoundedSemaphore(concurrency))
    own = threading.local()
    # One session for all (a new one re-reads every service model: about 1 s of CPU a thread here), but a
    # client per thread: botocore keeps the retry quota and adaptive mode's rate limiter per client.
    # Sessions are not thread-safe, so clients are made one at a time.
    creating = threading.Lock()
    original_client = aws.client

    def client(service_name: Any, region_name: str | None = None) -> Any:
        clients: dict[tuple[Any, str | None], Any] = own.__dict__.setdefault("clients", {})
        key = (service_name, region_name)
        if key not in clients:
            with creating:
                if aws._default_session is None:
                    aws._default_session = aws._new_session()
                config = aws._IAM_CONFIG if service_name == "iam" else aws._CLIENT_CONFIG
                clients[key] = aws._default_session.client(
                    service_name, region_name=region_name, config=config
                )
        return clients[key]

    aws.client = client
    try:
        yield
    finally:
        aws.client = original_client
        stack.functions.clear()
        stack.functions.update(saved_functions)
