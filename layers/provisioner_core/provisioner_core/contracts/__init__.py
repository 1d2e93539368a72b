"""The JSON the steps pass each other through Step Functions, and the registry's record, as TypedDicts.

TypedDicts describe that JSON and cost nothing at run time (a TypedDict is a plain dict, and these modules
import only `typing`), so every Lambda's import path stays light. The untrusted request alone is a pydantic
model (provisioner_core.request): it needs validation. One module per concern: checks, step_results (what
each Task returns), run_state (what each Task receives, as its state machine's Parameters pass it, and the
run state they are cut from), records (the registry's item).
"""
