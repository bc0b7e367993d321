"""Esper: morphogenetic neural-network training on an Apache Kafka event log."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use: `import esper` must not pull in Kafka clients (domain code
    # never depends on the bus) or torch.
    if name == "replay":
        from esper.bus.replay import read

        return read
    if name == "query":
        from esper.projections.client import query

        return query
    if name == "wrap":
        from esper.kasmina import wrap

        return wrap
    raise AttributeError(f"module 'esper' has no attribute {name!r}")
