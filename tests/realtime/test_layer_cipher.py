"""The Redis layer's payloads sealed with AES-GCM (realtime.layer_cipher, issue 14)."""

import os

import pytest
from cryptography.fernet import Fernet

from realtime import layer_cipher
from realtime.layer_cipher import (
    HEADER_BYTES,
    NONCE_BYTES,
    SENDER_ID_BYTES,
    AesGcmSerializer,
    LayerTokenInvalid,
)
from realtime.layers import PipelinedRedisPubSubChannelLayer

EVENT = {
    "type": "chat.message",
    "conversation": "1501486d-c36e-473d-8153-6cdee4326bb3",
    "seq": 12,
    "frame": {"type": "message", "seq": 12, "text": "secret words", "author": None},
}


def sender_id(token: bytes) -> bytes:
    return token[1 : 1 + SENDER_ID_BYTES]


def nonce(token: bytes) -> bytes:
    return token[1 + SENDER_ID_BYTES : HEADER_BYTES]


def test_the_product_layer_seals_with_aes_gcm_and_opens_what_it_sealed():
    # Constructing the layer opens no connection.
    layer = PipelinedRedisPubSubChannelLayer(
        hosts=["redis://127.0.0.1:6379/0"], symmetric_encryption_keys=["k1"]
    )
    assert isinstance(layer._serializer, AesGcmSerializer)
    token = layer.serialize(EVENT)
    assert b"secret" not in token
    assert layer.deserialize(token) == EVENT


def test_two_processes_with_the_same_keys_read_each_other_under_keys_of_their_own():
    one, two = AesGcmSerializer(["k1"]), AesGcmSerializer(["k1"])
    from_one, from_two = one.serialize(EVENT), two.serialize(EVENT)
    assert two.deserialize(from_one) == EVENT
    assert one.deserialize(from_two) == EVENT
    assert sender_id(from_one) != sender_id(from_two)
    # Same nonce (both start counting at zero), different keys: the
    # sealed bytes differ.
    assert nonce(from_one) == nonce(from_two)
    assert from_one[HEADER_BYTES:] != from_two[HEADER_BYTES:]


def test_a_sender_never_uses_a_nonce_twice():
    serializer = AesGcmSerializer(["k1"])
    nonces = [nonce(serializer.serialize(EVENT)) for _ in range(1000)]
    assert len(set(nonces)) == 1000
    assert len(nonces[0]) == NONCE_BYTES


def test_a_forked_child_seals_under_a_sender_id_of_its_own():
    serializer = AesGcmSerializer(["k1"])
    parent_token = serializer.serialize(EVENT)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe.
        try:
            os.write(write, serializer.serialize(EVENT))
        finally:
            os._exit(0)
    os.close(write)
    child_token = os.read(read, 4096)
    os.close(read)
    os.waitpid(pid, 0)
    assert sender_id(child_token) != sender_id(parent_token)
    # The child started a counter of its own under its own key.
    assert serializer.deserialize(child_token) == EVENT


def test_rotation_new_key_first_opens_the_old_and_the_old_alone_does_not_open_the_new():
    old = AesGcmSerializer(["k1"])
    rotating = AesGcmSerializer(["k2", "k1"])
    rotated = AesGcmSerializer(["k2"])
    assert rotating.deserialize(old.serialize(EVENT)) == EVENT
    assert rotated.deserialize(rotating.serialize(EVENT)) == EVENT
    with pytest.raises(LayerTokenInvalid):
        old.deserialize(rotating.serialize(EVENT))
    with pytest.raises(LayerTokenInvalid):
        rotated.deserialize(old.serialize(EVENT))


@pytest.mark.parametrize(
    "where",
    [0, 1, SENDER_ID_BYTES, HEADER_BYTES - 1, HEADER_BYTES, -1],
    ids=["version", "sender id", "sender id end", "nonce", "ciphertext", "tag"],
)
def test_a_changed_byte_anywhere_is_refused(where):
    serializer = AesGcmSerializer(["k1"])
    token = bytearray(serializer.serialize(EVENT))
    token[where] ^= 0x01
    with pytest.raises(LayerTokenInvalid):
        serializer.deserialize(bytes(token))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x01",
        b"\x01" + bytes(HEADER_BYTES),
        Fernet(Fernet.generate_key()).encrypt(b"x"),
        b"\x82\xa4type\xa1x",  # msgpack in clear
    ],
    ids=["empty", "version only", "no ciphertext", "fernet", "clear"],
)
def test_what_is_not_a_sealed_token_is_refused(payload):
    with pytest.raises(LayerTokenInvalid):
        AesGcmSerializer(["k1"]).deserialize(payload)


def test_a_receiver_keeps_a_bounded_number_of_sender_keys(monkeypatch):
    monkeypatch.setattr(layer_cipher, "SENDER_KEYS_KEPT", 4)
    receiver = AesGcmSerializer(["k1"])
    senders = [AesGcmSerializer(["k1"]) for _ in range(6)]
    tokens = [sender.serialize(EVENT) for sender in senders]
    for token in tokens:
        assert receiver.deserialize(token) == EVENT
    assert len(receiver._opening) == 4
    # A forgotten sender's key is derived again.
    assert receiver.deserialize(tokens[0]) == EVENT


@pytest.mark.parametrize("keys", [None, [], "k1", b"k1"])
def test_keys_must_be_a_list(keys):
    with pytest.raises(ValueError):
        AesGcmSerializer(keys)
