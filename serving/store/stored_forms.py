"""A scored record's stored form but its sealed id: what the store keeps of a result.

`StoredForms` makes, from a result, the row the store writes: the id's pseudonym, the as-of
date and period, the district, score and level, and the scrubbed reasons, actions and features
as JSON text. It needs the pseudonym secret only; the encrypted id a warning also keeps is
added by the store (`ScoreWriter.seal`), which holds the keys. The store makes every request's
rows with one; the score helper (`serving.score_helper`) keeps its own to make the rows of
its part of a large request, so both make the same rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from serving.store.common import as_date, month_start
from serving.store.models import WARNING_LEVELS
from serving.store.pseudonym import pseudonymise
from serving.store.scrubbing import MemoScrubber
from serving.store.sqlite import SerialisedJSON, serialised

#: One result's stored form (pseudonymised id, period, scrubbed reasons, actions and
#: features; after `ScoreWriter.seal`, a warning's encrypted id), as `record_prepared` writes it.
PreparedScore = dict[str, Any]


class StoredForms:
    """Results' stored forms under one pseudonym secret (see the module's text).

    It pickles as its secret (the score helper gets one over its pipe, never through a file,
    an argument or the environment); the scrubber's memory starts empty in each process.
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a pseudonym secret is required")
        self._secret = secret
        self.scrub = MemoScrubber(secret)

    def __reduce__(self) -> tuple[type[StoredForms], tuple[str]]:
        return (StoredForms, (self._secret,))

    def pseudonymise(self, identifier: str) -> str:
        """HMAC-SHA256(secret, id), 32 hex characters: the id as the store keeps it."""
        return pseudonymise(self._secret, identifier)

    def feature_rows(
        self, raw_ids: Sequence[str], names: Sequence[str], columns: Sequence[Sequence[Any]]
    ) -> tuple[list[SerialisedJSON], list[str]]:
        """Sent records' scrubbed features as stored JSON text (features by column, as the
        service encodes them) and their ids' pseudonyms: the part of their stored form that
        does not depend on the scores."""
        scrubbed = self.scrub.rows(names, columns)
        return [serialised(row) for row in scrubbed], [self.pseudonymise(i) for i in raw_ids]

    def forms(
        self,
        results: Sequence[dict[str, Any]],
        *,
        default_as_of: date,
        scrubbed_features: Sequence[dict[str, Any]] | Sequence[SerialisedJSON] | None = None,
        entity_hashes: Sequence[str] | None = None,
        from_catalog: bool = False,
    ) -> list[PreparedScore]:
        """Each result's stored form, not yet sealed (see `ScoreWriter.prepare_scores`)."""
        if scrubbed_features is not None and len(scrubbed_features) != len(results):
            raise ValueError("scrubbed_features must have one entry per result")
        if entity_hashes is not None and len(entity_hashes) != len(results):
            raise ValueError("entity_hashes must have one entry per result")
        context = _Days(default_as_of)
        return [
            self._form(
                result,
                context,
                from_catalog,
                None if scrubbed_features is None else scrubbed_features[position],
                None if entity_hashes is None else entity_hashes[position],
            )
            for position, result in enumerate(results)
        ]

    def _form(
        self,
        result: dict[str, Any],
        days: _Days,
        from_catalog: bool,
        scrubbed_features: dict[str, Any] | SerialisedJSON | None,
        entity_hash: str | None,
    ) -> PreparedScore:
        """One result's stored form: pseudonymised id, period, scrubbed reasons and features.

        The JSON columns' text is made here, before the write lock is taken. Reasons and
        actions are stored only on a warning: a level below yellow skips them (None).
        """
        raw_id = str(result["entity_id"])
        record_as_of, period = days.day(result.get("as_of"))
        level = str(result["risk_level"])
        warned = level in WARNING_LEVELS
        scrub = self.scrub if from_catalog else partial(self.scrub.with_own_id, raw_id=raw_id)
        features = (
            scrub(dict(result.get("features") or {}))
            if scrubbed_features is None
            else scrubbed_features
        )
        return {
            "entity_hash": self.pseudonymise(raw_id) if entity_hash is None else entity_hash,
            "as_of": record_as_of,
            "period": period,
            "district": result.get("district"),
            "score": float(result["score"]),
            "risk_level": level,
            "reasons": (serialised(scrub(list(result.get("reasons") or []))) if warned else None),
            "actions": (serialised(scrub(list(result.get("actions") or []))) if warned else None),
            "features": serialised(features),
        }


@dataclass
class _Days:
    """What `forms` works out once per request: the default as-of date, and each distinct
    as-of's date and period."""

    default_as_of: date
    days: dict[Any, tuple[date, date]] = field(default_factory=dict)

    def day(self, value: Any) -> tuple[date, date]:
        """(as-of date, period) of a result's `as_of` (the default when it has none)."""
        key = value or self.default_as_of
        found = self.days.get(key)
        if found is None:
            day = as_date(key)
            found = self.days[key] = (day, month_start(day))
        return found
