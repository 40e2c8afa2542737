"""The record pipelines of convert and validate: the run harness (declared files and processes), the
per-record map and ordered side, the executors (local or Ray) and the preview."""
