"""Reliability and security tests: faults the way reality makes them (see docs/reliability.md)."""
