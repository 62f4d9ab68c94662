"""Row conditions compile twice, to a Python check for one object and to a WHERE clause for a
list; the two must pick the same rows, NULLs, empty sets and nesting included.

The agreement test generates rows (owner, department, amount, region, any of them NULL), a
subject (who, their department, their reports, their attributes, the department tree) and one to
three conditions over the whole language, writes the rows into a real table on SQLite and on
PostgreSQL, and compares ``SELECT id … WHERE`` with the check run on the rows read back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Integer, Numeric, String, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from atrium.core.db import async_url
from atrium.platform.access import predicates
from atrium.platform.access.predicates import Resource
from atrium.platform.access.subject import Subject


class _Base(DeclarativeBase):
    """A metadata of its own: the table exists only in these tests' databases."""


class Thing(_Base):
    __tablename__ = "access_test_things"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(36))
    department: Mapped[str | None] = mapped_column(String(36))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    region: Mapped[str | None] = mapped_column(String(20))


THING = Resource(
    "tests.thing",
    {
        "owner": (Thing.owner, "user"),
        "department": (Thing.department, "department"),
        "amount": (Thing.amount, "number"),
        "region": (Thing.region, "string"),
    },
)
PERMISSION = "tests.thing.read"


@pytest.fixture(scope="module", autouse=True)
def _registered() -> Iterator[None]:
    """The resource is known to conditions while this module runs, and forgotten afterwards, so
    other tests (and the console's attribute lists) see only what the modules register."""
    attributes, resources = dict(predicates.ATTRIBUTES), dict(predicates.RESOURCES)
    predicates.register(THING)
    yield
    predicates.ATTRIBUTES.clear()
    predicates.ATTRIBUTES.update(attributes)
    predicates.RESOURCES.clear()
    predicates.RESOURCES.update(resources)


USERS = ["u1", "u2", "u3", "u4"]
DEPARTMENTS = ["d1", "d2", "d3", "d4", "d5", "d6"]
REGIONS = ["eu", "EU", "us", "eu ", ""]  # case and trailing blanks count in both

# -- strategies ---------------------------------------------------------------------------------

cents = st.integers(-5000, 5000).map(lambda c: Decimal(c).scaleb(-2))
# how a number may arrive in a condition's JSON: a string, an integer or a Decimal
number_value = st.one_of(cents.map(str), st.integers(-50, 50), cents)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "owner": st.sampled_from([*USERS, "nobody"]),
    "department": st.sampled_from([*DEPARTMENTS, "d-gone"]),
    "region": st.sampled_from(REGIONS),
    "amount": number_value,
    "title": st.just("a note attribute: not on this resource"),
}
attribute = st.sampled_from(sorted(VALUES))


@st.composite
def eq(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(attribute)
    return {"op": "eq", "attr": attr, "value": draw(VALUES[attr])}


@st.composite
def one_of_values(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(attribute)
    return {"op": "in", "attr": attr, "values": draw(st.lists(VALUES[attr], max_size=4))}


leaf = st.one_of(
    eq(),
    one_of_values(),
    st.builds(
        lambda op, value: {"op": op, "attr": "amount", "value": value},
        st.sampled_from(["lt", "le", "gt", "ge"]),
        number_value,
    ),
    st.just({"op": "owner"}),
    st.just({"op": "manager_of_owner"}),
    st.builds(
        lambda department, children: {"op": "in_department", "department": department, "children": children},
        st.sampled_from([*DEPARTMENTS, "mine", "d-gone"]),
        st.booleans(),
    ),
    st.builds(
        lambda attr, subject_attr: {"op": "matches_subject", "attr": attr, "subject_attr": subject_attr},
        st.sampled_from(["region", "owner", "department", "title"]),
        st.sampled_from(["region", "team", "missing"]),
    ),
)
condition = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda of: {"op": "all", "of": of}, st.lists(inner, max_size=3)),
        st.builds(lambda of: {"op": "any", "of": of}, st.lists(inner, max_size=3)),
        st.builds(lambda of: {"op": "not", "of": of}, inner),
    ),
    max_leaves=8,
)


@st.composite
def subjects(draw: st.DrawFn) -> Subject:
    """Who asks, with the organisation facts conditions read; the tree is acyclic by construction
    (each department's parent comes before it)."""
    parents = {d: draw(st.sampled_from([None, *DEPARTMENTS[:i]])) for i, d in enumerate(DEPARTMENTS)}
    conditions = draw(st.lists(st.one_of(condition.map(predicates.parse), st.none()), min_size=1, max_size=3))
    if None in conditions and draw(st.booleans()):
        conditions = [c for c in conditions if c is not None] or [None]  # mostly conditional grants
    return Subject(
        user_id=draw(st.sampled_from(USERS)),
        tenant_id="t",
        roles=("generated",),
        grants={PERMISSION: tuple(conditions)},
        department_id=draw(st.sampled_from([None, *DEPARTMENTS])),
        reports=frozenset(draw(st.lists(st.sampled_from(USERS), max_size=3))),
        attributes=draw(
            st.dictionaries(st.sampled_from(["region", "team"]), st.sampled_from([*REGIONS, *USERS, *DEPARTMENTS]))
        ),
        parents=parents,
    )


rows = st.lists(
    st.fixed_dictionaries(
        {
            "owner": st.one_of(st.none(), st.sampled_from(USERS)),
            "department": st.one_of(st.none(), st.sampled_from([*DEPARTMENTS, "d-gone"])),
            "amount": st.one_of(st.none(), cents),
            "region": st.one_of(st.none(), st.sampled_from(REGIONS)),
        }
    ),
    max_size=12,
)

# -- the database -------------------------------------------------------------------------------


@pytest.fixture
async def things(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test table in this test's database (SQLite or PostgreSQL), once for every example."""
    engine = create_async_engine(async_url(database_url), poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(_Base.metadata.drop_all)
        await engine.dispose()


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(subject=subjects(), data=rows)
async def test_a_list_shows_exactly_the_rows_a_single_read_allows(
    things: AsyncEngine, subject: Subject, data: list[dict[str, Any]]
) -> None:
    sessions = async_sessionmaker(things, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await session.execute(delete(Thing))
        if data:
            await session.execute(insert(Thing), [{"id": i, **row} for i, row in enumerate(data)])
    async with sessions() as session:
        stored = (await session.scalars(select(Thing).order_by(Thing.id))).all()  # as read back
        listed = set(await session.scalars(select(Thing.id).where(subject.where(PERMISSION, THING))))
        # each condition alone, through the module-level compilers
        alone = {}
        for c in subject.grants[PERMISSION]:
            if c is not None:
                clause = predicates.compile_where(c, THING, subject)
                alone[predicates.dump(c).__repr__()] = (
                    set(await session.scalars(select(Thing.id).where(clause))),
                    {t.id for t in stored if predicates.compile_check(c, THING, subject)(t)},
                )
    checked = {t.id for t in stored if subject.check(PERMISSION, t, THING)}
    note(f"conditions: {[None if c is None else predicates.dump(c) for c in subject.grants[PERMISSION]]}")
    note(f"rows: {[(t.id, t.owner, t.department, t.amount, t.region) for t in stored]}")
    assert listed == checked
    for shown, (sql, python) in alone.items():
        assert sql == python, shown


# -- the language itself (no database) ----------------------------------------------------------


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(condition)
def test_a_condition_survives_storage(data: dict[str, Any]) -> None:
    """What a role stores (``dump``) parses back to the same condition."""
    parsed = predicates.parse(data)
    assert predicates.parse(predicates.dump(parsed)) == parsed


def _subject(**facts: Any) -> Subject:
    return Subject("u1", "t", (), {}, **facts)


class _Row:
    def __init__(self, **values: Any) -> None:
        for attr in ("owner", "department", "amount", "region"):
            setattr(self, attr, values.get(attr))


@pytest.mark.parametrize(
    ("data", "row", "expected"),
    [
        ({"op": "not", "of": {"op": "eq", "attr": "region", "value": "eu"}}, {"region": None}, True),
        ({"op": "eq", "attr": "amount", "value": "1.5"}, {"amount": Decimal("1.50")}, True),
        ({"op": "lt", "attr": "amount", "value": 10}, {"amount": None}, False),
        ({"op": "not", "of": {"op": "lt", "attr": "amount", "value": 10}}, {"amount": None}, True),
        ({"op": "all", "of": []}, {}, True),
        ({"op": "any", "of": []}, {}, False),
        ({"op": "in", "attr": "region", "values": []}, {"region": "eu"}, False),
        ({"op": "in_department", "department": "mine"}, {"department": None}, False),
        ({"op": "in_department", "department": "d1"}, {"department": "d3"}, True),
        ({"op": "in_department", "department": "d1", "children": False}, {"department": "d3"}, False),
        ({"op": "matches_subject", "attr": "region", "subject_attr": "region"}, {"region": "eu"}, True),
        ({"op": "matches_subject", "attr": "region", "subject_attr": "team"}, {"region": None}, False),
        ({"op": "manager_of_owner"}, {"owner": "u2"}, True),
        ({"op": "owner"}, {"owner": "u1"}, True),
        ({"op": "eq", "attr": "title", "value": "x"}, {}, False),  # not an attribute of this resource
    ],
)
def test_hand_picked_cases(data: dict[str, Any], row: dict[str, Any], expected: bool) -> None:
    subject = _subject(
        department_id=None, reports=frozenset({"u2"}), attributes={"region": "eu"}, parents={"d1": None, "d3": "d1"}
    )
    assert predicates.compile_check(predicates.parse(data), THING, subject)(_Row(**row)) is expected


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"op": "eq", "attr": "salary", "value": "1"}, "unknown attribute 'salary'"),
        ({"op": "eq", "attr": "amount", "value": "lots"}, "is a number"),
        ({"op": "eq", "attr": "region", "value": 5}, "is text"),
        ({"op": "lt", "attr": "region", "value": 5}, "not a number"),
        ({"op": "gt", "attr": "amount", "value": "NaN"}, "finite"),
        ({"op": "matches_subject", "attr": "amount", "subject_attr": "region"}, "compares text"),
        ({"op": "matches_subject", "attr": "region", "subject_attr": "Not Valid"}, "pattern"),
        ({"op": "owner", "extra": 1}, "Extra inputs"),
        ({"op": "sometimes"}, "does not match any of the expected tags"),
        ({"op": "all", "of": [{"op": "owner"}] * 21}, "at most 20"),
    ],
)
def test_malformed_conditions_are_refused_with_a_reason(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        predicates.parse(data)


def test_a_condition_has_at_most_fifty_parts() -> None:
    deep: dict[str, Any] = {"op": "owner"}
    for _ in range(50):
        deep = {"op": "not", "of": deep}
    with pytest.raises(ValueError, match="at most 50 parts"):
        predicates.parse(deep)
