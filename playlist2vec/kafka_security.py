"""Kafka client security from the settings: one place that turns P2V_KAFKA_SECURITY_* into the
options of every Kafka client the project creates: librdkafka (confluent-kafka) producers,
kafka-python consumers and admin clients, Spark's Kafka source.

Producers are on the hot path (the `produce` command, the benchmark's publishers, the dead-letter
producer), so they use librdkafka: about 6 us of CPU per event against about 310 us with
kafka-python. The admin client and the consumers are not, and stay on kafka-python for now.

Secrets go into client objects only: never into a log line, a command line or an error message.
"""

from __future__ import annotations

from typing import Any

from playlist2vec.settings import Settings

SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


def _login(settings: Settings) -> tuple[str, str, str] | None:
    """(mechanism, username, password) for the SASL_* protocols, else None."""
    if not settings.kafka_sasl:
        return None
    # both guaranteed by the settings' validation
    assert settings.kafka_sasl_username is not None and settings.kafka_sasl_password is not None
    return (settings.kafka_sasl_mechanism, settings.kafka_sasl_username,
            settings.kafka_sasl_password.get_secret_value())


def _ca_file(settings: Settings) -> str | None:
    """The PEM CA bundle for the *SSL protocols when one is set (else the system's CAs serve)."""
    if settings.kafka_security_protocol.endswith("SSL") and settings.kafka_ssl_cafile is not None:
        return str(settings.kafka_ssl_cafile)
    return None


def client_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for a kafka-python client (bootstrap servers and security)."""
    config: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap.split(","),
                              "security_protocol": settings.kafka_security_protocol}
    if login := _login(settings):
        mechanism, username, password = login
        config |= {"sasl_mechanism": mechanism, "sasl_plain_username": username,
                   "sasl_plain_password": password}
    if ca_file := _ca_file(settings):
        config["ssl_cafile"] = ca_file
    return config


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """Configuration of a librdkafka (confluent-kafka) client: bootstrap servers and security."""
    config = {"bootstrap.servers": settings.kafka_bootstrap,
              "security.protocol": settings.kafka_security_protocol}
    if login := _login(settings):
        mechanism, username, password = login
        config |= {"sasl.mechanism": mechanism, "sasl.username": username, "sasl.password": password}
    if ca_file := _ca_file(settings):
        config["ssl.ca.location"] = ca_file
    return config


def jaas_config(mechanism: str, username: str, password: str) -> str:
    """The JAAS line a Java Kafka client (or broker listener) logs in with."""
    module = PLAIN_MODULE if mechanism == "PLAIN" else SCRAM_MODULE

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"{module} required username={quoted(username)} password={quoted(password)};"


def spark_options(settings: Settings) -> dict[str, str]:
    """`kafka.*` options of Spark's Kafka source and sink (bootstrap servers and security)."""
    options = {"kafka.bootstrap.servers": settings.kafka_bootstrap,
               "kafka.security.protocol": settings.kafka_security_protocol}
    if login := _login(settings):
        options |= {"kafka.sasl.mechanism": login[0], "kafka.sasl.jaas.config": jaas_config(*login)}
    if ca_file := _ca_file(settings):
        # a PEM bundle, as kafka-python and librdkafka take it (Kafka clients 2.7+ read PEM trust stores)
        options |= {"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": ca_file}
    return options
