"""Helpers shared by the tests: mutated real data, annotators that answer through the REST API, the
bad-input corpus."""
