"""The record pipelines of convert and validate: the per-record map and the ordered sink, the executors
(in-process or a Ray cluster, with identical results) and ``convert --preview``."""
