"""Helpers the test suites share: waiting for executions, the HTTP API, clients, what a connection leaves.

Test modules import from here, never from one another; conftest.py files keep only fixtures.
"""
