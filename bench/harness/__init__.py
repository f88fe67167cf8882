"""The bench's harness: the servers under test, the workloads and the report.

``bench/run.py`` is the entry point: it parses the arguments and runs the workloads in order.
"""
