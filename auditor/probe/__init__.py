"""Behavioural probing: load a model safely, run batched generation, detect and count."""
