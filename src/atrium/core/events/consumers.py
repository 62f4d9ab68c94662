"""Consumers: named handlers of topics. Each runs in a platform transaction together with its
entry in the processed-event ledger, so a redelivered event is recognised and does nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from atrium.core.events.envelope import TOPICS, CloudEvent

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    name: str
    topics: tuple[str, ...]
    handler: Handler


class ConsumerRegistry:
    def __init__(self) -> None:
        self._consumers: dict[str, Consumer] = {}

    def register(self, name: str, *topics: str) -> Callable[[Handler], Handler]:
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topics {unknown}")

        def decorate(handler: Handler) -> Handler:
            self._consumers[name] = Consumer(name, tuple(topics), handler)
            return handler

        return decorate

    def get(self, name: str) -> Consumer | None:
        return self._consumers.get(name)

    def unregister(self, name: str) -> None:
        self._consumers.pop(name, None)

    @property
    def subscriptions(self) -> dict[str, list[str]]:
        return {c.name: list(c.topics) for c in self._consumers.values()}


registry = ConsumerRegistry()
