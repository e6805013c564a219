"""`prepare_scores` with the service's precomputed parts stores what it stores without them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from serving.store import WarningStore
from serving.store.identity import EntityCipher
from serving.store.sqlite import serialised
from tests.serving.store.conftest import SECRET

KEYS = {"k-1": bytes(range(32))}


@pytest.fixture()
def sealed(store_url: str) -> Iterator[WarningStore]:
    """A store that encrypts entity ids (the service's configuration)."""
    opened = WarningStore(store_url, SECRET, EntityCipher(KEYS, "k-1"))
    yield opened
    opened.close()


def test_precomputed_hashes_and_feature_text_prepare_the_same_rows(
    sealed: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    """The pseudonyms and serialised scrubbed features the service makes beside TreeSHAP give
    the rows `prepare_scores` makes itself; each warning's id is sealed with its own nonce."""
    results = [
        scored(f"E-{i}", 0.9 if i % 3 else 0.1, "red" if i % 3 else "green") for i in range(40)
    ]
    ids = [str(result["entity_id"]) for result in results]
    names = ["arrears_months", "note"]
    columns = [[i % 4 for i in range(40)], [f"call 1380013800{i % 10}" for i in range(40)]]
    features = sealed.scrub_feature_columns(names, columns)
    plain = sealed.prepare_scores(results, scrubbed_features=features)
    fast = sealed.prepare_scores(
        results,
        scrubbed_features=[serialised(row) for row in features],
        entity_hashes=[sealed.pseudonymise(raw_id) for raw_id in ids],
    )
    assert len(plain) == len(fast) == 40
    for want, got in zip(plain, fast, strict=True):
        assert {k: v for k, v in got.items() if k != "entity_cipher"} == {
            k: v for k, v in want.items() if k != "entity_cipher"
        }
        assert (got["entity_cipher"] is None) == (want["risk_level"] == "green")
    sealed_ids = [row["entity_cipher"] for row in fast if row["entity_cipher"]]
    assert len(set(sealed_ids)) == len(sealed_ids)  # fresh nonces: no two ciphertexts alike
    cipher = EntityCipher(KEYS, "k-1")
    for raw_id, row in zip(ids, fast, strict=True):
        if row["entity_cipher"]:
            assert cipher.decrypt(row["entity_cipher"], "k-1", entity_hash=row["entity_hash"]) == (
                raw_id
            )
    with pytest.raises(ValueError, match="entity_hashes"):
        sealed.prepare_scores(results, entity_hashes=ids[:3])


def test_nonces_are_fresh_and_of_the_cipher_size() -> None:
    nonces = list(EntityCipher.nonces(500))
    assert len(nonces) == 500
    assert {len(nonce) for nonce in nonces} == {12}
    assert len(set(nonces)) == 500
    with pytest.raises(ValueError, match="12 bytes"):
        EntityCipher(KEYS, "k-1").encrypt("E-1", entity_hash="h", nonce=b"short")
