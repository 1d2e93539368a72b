"""Run in a fresh interpreter (`python -I bench/coldstart_probe.py SPEC`): time one cold start, print JSON.

Only the standard library is imported before the clock starts, so the figure is the import of the handler
module plus the first AWS client (or, for the baseline, `import boto3; boto3.client("s3")`), without the
interpreter's own start-up.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["mode"] == "baseline":
        started, cpu = time.perf_counter(), time.process_time()
        import boto3

        boto3.client("s3")
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu
    else:
        # As the Lambda runtime: the function's code first, then the layers.
        sys.path[:0] = spec["paths"]
        started, cpu = time.perf_counter(), time.process_time()
        # __import__, not importlib.import_module: only the former shows in `python -X importtime`.
        __import__(spec["module"])
        __import__("provisioner_core.aws", fromlist=["client"]).client(spec["service"])
        elapsed, cpu_elapsed = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu_elapsed * 1000}))


if __name__ == "__main__":
    main()
