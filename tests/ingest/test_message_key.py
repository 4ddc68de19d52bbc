"""A message key is BLAKE2b-128 of the topic's length, the topic and the payload, whatever the payload's
size: keys already stored in ``ingest_message`` must keep matching the messages they were made from."""

from __future__ import annotations

import hashlib

import pytest

from ingest.writer import message_key


def plain_key(topic: str, payload: bytes) -> bytes:
    t = topic.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(len(t).to_bytes(4, "big") + t + payload, digest_size=16).digest()


@pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 4094, 4095, 100_001])
def test_key_is_the_plain_digest_for_every_payload_size(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for topic in ("jn/v1/INST1/E1", "jn/v1/\ud800/x", ""):
        assert message_key(topic, payload) == plain_key(topic, payload)


def test_a_known_key_does_not_change():
    assert message_key("jn/v1/INST1/E1", b'{"ts": 1, "value": 2}').hex() == "70ed6c10bcfc2d08227ef7797a45d601"
