"""Esper: morphogenetic neural-network training on an Apache Kafka event log."""

__version__ = "0.1.0"
