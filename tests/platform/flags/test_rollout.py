"""Percentage rollouts: a user's answer is stable (across evaluations, processes and snapshot
reloads), the share inside is close to the percent, and raising the percent never drops anyone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from atrium.platform.flags import service, store
from atrium.platform.flags.evaluation import BUCKETS, Flag, Rollout, Snapshot, bucket, evaluate
from atrium.platform.flags.schemas import FlagUpdate, RolloutIn
from atrium.runtime import Runtime
from tests.platform.flags.conftest import define

USERS = [f"user-{i}" for i in range(2000)]


def _inside(snapshot: Snapshot, key: str, users: list[str]) -> set[str]:
    return {u for u in users if evaluate(snapshot, key, EvaluationContext(targeting_key=u)).reason == Reason.SPLIT}


def _rolled(percent: float, key: str = "checkout.new-flow") -> Snapshot:
    return Snapshot(1, {key: Flag(key, "bool", False, rollout=Rollout(percent, True))})


def test_buckets_are_stable_in_range_and_independent_between_flags() -> None:
    assert [bucket("a", u) for u in USERS[:50]] == [bucket("a", u) for u in USERS[:50]]
    assert all(0 <= bucket("a", u) < BUCKETS for u in USERS)
    same = sum(bucket("a", u) < 5000 and bucket("b", u) < 5000 for u in USERS)
    assert 400 < same < 600  # ~ a quarter: being in one flag's half says nothing of another's


def test_the_share_inside_is_close_to_the_percent() -> None:
    for percent in (1, 10, 25, 50, 75, 90, 99):
        share = len(_inside(_rolled(percent), "checkout.new-flow", USERS)) / len(USERS)
        assert abs(share - percent / 100) < 0.035, (percent, share)
    assert _inside(_rolled(0), "checkout.new-flow", USERS) == set()
    assert _inside(_rolled(100), "checkout.new-flow", USERS) == set(USERS)


def test_raising_the_percent_never_drops_a_user() -> None:
    previous: set[str] = set()
    for percent in (0, 0.5, 5, 12.25, 30, 30.01, 64, 99.99, 100):
        inside = _inside(_rolled(percent), "checkout.new-flow", USERS)
        assert previous <= inside, percent
        previous = inside


@given(user=st.text(min_size=1, max_size=40), low=st.floats(0, 100), high=st.floats(0, 100))
def test_inside_at_a_percent_means_inside_at_any_higher_one(user: str, low: float, high: float) -> None:
    low, high = round(min(low, high), 2), round(max(low, high), 2)
    context = EvaluationContext(targeting_key=user)
    if Rollout(low, True).includes("k", context):
        assert Rollout(high, True).includes("k", context)


def test_a_rollout_can_bucket_by_tenant() -> None:
    flag = Flag("f", "bool", False, rollout=Rollout(50, True, bucket_by="tenant_id"))
    snapshot = Snapshot(1, {"f": flag})
    tenants = [f"tenant-{i}" for i in range(40)]
    for tenant in tenants:  # everyone in a tenant gets the same answer
        answers = {evaluate(snapshot, "f", EvaluationContext(u, {"tenant_id": tenant})).value for u in USERS[:30]}
        assert len(answers) == 1


async def test_answers_survive_snapshot_reloads_and_a_growing_percent(runtime: Runtime) -> None:
    await define(
        runtime,
        key="checkout.new-flow",
        value_type="bool",
        default_value=False,
        rollout={"percent": 30, "value": True},
    )
    first = _inside(await store.refresh(runtime), "checkout.new-flow", USERS)
    assert abs(len(first) / len(USERS) - 0.30) < 0.035
    assert _inside(await store.refresh(runtime), "checkout.new-flow", USERS) == first

    elsewhere = store.FlagStore(runtime.db)  # another process: its own snapshot, loaded from the database
    assert _inside(await elsewhere.refresh(), "checkout.new-flow", USERS) == first

    await service.update_flag(
        runtime, "checkout.new-flow", FlagUpdate(rollout=RolloutIn(percent=60, value=True)), actor="t"
    )
    grown = _inside(await store.refresh(runtime), "checkout.new-flow", USERS)
    assert first < grown and abs(len(grown) / len(USERS) - 0.60) < 0.035
    assert _inside(await elsewhere.refresh(max_age=0), "checkout.new-flow", USERS) == grown
