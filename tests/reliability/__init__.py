"""Reliability tests: server faults, crash durability, load, hostile input, secrets.

Results and measured numbers are in ``RELIABILITY.md``; the long run is ``make soak``.
"""
