"""The JSON the steps pass each other through Step Functions, and the registry's record, as TypedDicts.

A TypedDict is a plain dict at run time, and the functions and the layer import these modules only under
TYPE_CHECKING, so no Lambda loads them: every function's import path stays as light as it was. The
untrusted request alone is a pydantic model (provisioner_core.request): it needs validation. One module per
concern: checks, step_results (what each Task returns), run_state (what each Task receives, as its state
machine's Parameters pass it, and the run state it is cut from), records (the registry's item), health (its
`health` field, what a health check found).
"""
