"""The OpenFeature provider: code asks flags the standard way and gets Atrium's answers.

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    client = api.get_client()
    on = client.get_boolean_value(
        "billing.new-invoice-editor", False,
        EvaluationContext(targeting_key=user_id, attributes={"tenant_id": tenant_id}),
    )

The sync methods answer from the runtime's in-memory snapshot (no query) and, when it is older
than a second, schedule a refresh in the background; the ``*_async`` methods check first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from atrium.platform.flags.evaluation import Evaluation, evaluate
from atrium.platform.flags.store import FlagStore, store_for

if TYPE_CHECKING:
    from atrium.runtime import Runtime

ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


class AtriumFlagProvider(AbstractProvider):
    def __init__(self, store: FlagStore) -> None:
        super().__init__()
        self.store = store

    def get_metadata(self) -> Metadata:
        return Metadata(name="atrium")

    def _evaluate(self, key: str, expected: str, default: Any, context: EvaluationContext | None) -> Evaluation:
        self.store.refresh_soon()
        snapshot = self.store.snapshot
        if not snapshot.loaded:
            message = "the flags are not loaded yet (refresh the runtime's flag store at startup)"
            return Evaluation(key, default, Reason.ERROR, None, ErrorCode.PROVIDER_NOT_READY, message)
        return evaluate(snapshot, key, context, expected=expected, default=default)

    def _details(self, found: Evaluation) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(
            value=found.value,
            reason=found.reason,
            variant=found.variant,
            error_code=found.error_code,
            error_message=found.error_message,
            flag_metadata={"snapshot_version": self.store.snapshot.version},
        )

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._details(self._evaluate(flag_key, "bool", default_value, evaluation_context))

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._details(self._evaluate(flag_key, "string", default_value, evaluation_context))

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """A number flag asked as an integer: its value when whole, else a type mismatch."""
        found = self._evaluate(flag_key, "number", default_value, evaluation_context)
        if found.error_code is None:
            if isinstance(found.value, float) and not found.value.is_integer():
                message = f"flag {flag_key!r} served {found.value}, not an integer"
                return self._details(
                    Evaluation(flag_key, default_value, Reason.ERROR, None, ErrorCode.TYPE_MISMATCH, message)
                )
            found = Evaluation(flag_key, int(found.value), found.reason, found.variant)
        return self._details(found)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        found = self._evaluate(flag_key, "number", default_value, evaluation_context)
        if found.error_code is None:
            found = Evaluation(flag_key, float(found.value), found.reason, found.variant)
        return self._details(found)

    def resolve_object_details(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._details(self._evaluate(flag_key, "object", default_value, evaluation_context))

    # async callers (``client.get_boolean_value_async``) get a snapshot checked within the interval

    async def resolve_boolean_details_async(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        await self.store.refresh()
        return self.resolve_boolean_details(flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        await self.store.refresh()
        return self.resolve_string_details(flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        await self.store.refresh()
        return self.resolve_integer_details(flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        await self.store.refresh()
        return self.resolve_float_details(flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self, flag_key: str, default_value: ObjectValue, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[ObjectValue]:
        await self.store.refresh()
        return self.resolve_object_details(flag_key, default_value, evaluation_context)


def install(rt: Runtime, domain: str | None = None) -> AtriumFlagProvider:
    """Make ``api.get_client(domain)`` answer from ``rt``'s flags (OpenFeature's registry is
    process-wide: one runtime per process, as in the API and the worker)."""
    provider = AtriumFlagProvider(store_for(rt))
    api.set_provider_and_wait(provider, domain)
    return provider
