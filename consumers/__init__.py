"""Stream processors: each module wires the bus to domain logic and has main(argv)."""
