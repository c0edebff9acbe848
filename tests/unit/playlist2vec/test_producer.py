from __future__ import annotations

import pytest

from playlist2vec.errors import StackError
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from tests.support.ports import free_port


def test_unreachable_kafka_is_a_one_line_stack_error_without_the_password() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    settings = Settings.load({"P2V_KAFKA_BOOTSTRAP": bootstrap,
                              "P2V_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                              "P2V_KAFKA_SASL_USERNAME": "svc", "P2V_KAFKA_SASL_PASSWORD": "pw-secret"})
    with pytest.raises(StackError, match=f"Kafka at {bootstrap} unreachable: .*refused") as failure:
        Producer(settings, connect_timeout_s=1.0)
    message = str(failure.value)
    assert "\n" not in message and "pw-secret" not in message
