"""Real services for development and tests: Apache Kafka in KRaft mode on loopback."""
