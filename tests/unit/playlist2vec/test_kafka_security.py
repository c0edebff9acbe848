from __future__ import annotations

import pytest

from playlist2vec import kafka_security
from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings

SASL = {"P2V_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "P2V_KAFKA_SASL_USERNAME": "svc",
        "P2V_KAFKA_SASL_PASSWORD": 'pa"ss', "P2V_KAFKA_SSL_CAFILE": "/etc/ca.pem"}


def test_plaintext_by_default() -> None:
    settings = Settings.load({"P2V_KAFKA_BOOTSTRAP": "h1:9092,h2:9092"})
    assert kafka_security.client_config(settings) == {"bootstrap_servers": ["h1:9092", "h2:9092"],
                                                      "security_protocol": "PLAINTEXT"}
    assert kafka_security.spark_options(settings) == {"kafka.bootstrap.servers": "h1:9092,h2:9092",
                                                      "kafka.security.protocol": "PLAINTEXT"}
    assert kafka_security.librdkafka_config(settings) == {"bootstrap.servers": "h1:9092,h2:9092",
                                                          "security.protocol": "PLAINTEXT"}


def test_sasl_ssl_reaches_every_kind_of_client() -> None:
    settings = Settings.load(SASL)
    config = kafka_security.client_config(settings)
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("svc", 'pa"ss')
    assert config["ssl_cafile"] == "/etc/ca.pem"
    options = kafka_security.spark_options(settings)
    assert options["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="pa\\"ss";')
    assert options["kafka.ssl.truststore.location"] == "/etc/ca.pem"
    assert kafka_security.librdkafka_config(settings) == {
        "bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "svc", "sasl.password": 'pa"ss',
        "ssl.ca.location": "/etc/ca.pem"}


def test_a_ca_file_is_for_ssl_protocols_only() -> None:
    settings = Settings.load(SASL | {"P2V_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert "ssl.ca.location" not in kafka_security.librdkafka_config(settings)
    assert "ssl_cafile" not in kafka_security.client_config(settings)


def test_sasl_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="P2V_KAFKA_SASL_USERNAME"):
        Settings.load({"P2V_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    with pytest.raises(ConfigError, match="P2V_KAFKA_SECURITY_PROTOCOL"):
        Settings.load({"P2V_KAFKA_SECURITY_PROTOCOL": "KERBEROS"})


def test_the_password_stays_out_of_repr() -> None:
    assert 'pa"ss' not in repr(Settings.load(SASL))
