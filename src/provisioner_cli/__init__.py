"""`provisioner`: the deployed stack's client. It drives the stack's HTTP API with SigV4-signed requests and
follows runs through Step Functions' execution history, with the caller's own credentials.

One concern a module: `args` (the command line), `signing` (SigV4 and HTTP), `stack` (which API, which
region, which credentials), `render` (what a person reads), `trace` (a run's states as they finish),
`commands` and `commands_rotate` (what each command does), `cli` (main and its errors). Nothing here
imports the local stack or moto: `pip install .` installs this without them.
"""
