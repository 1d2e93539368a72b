"""The HTTP API function's modules, one concern each; `app.py` next to this package holds the routes.

The package name is unique across the template's function directories: the local stack loads every function
into one process, where a sibling module name two functions shared (say `body`) would be one entry in
sys.modules, and the local stack refuses a template whose functions share one.
"""
