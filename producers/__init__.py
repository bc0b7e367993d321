"""Processes that put facts on the log: each wires the bus to a piece of domain logic."""
