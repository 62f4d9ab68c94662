"""Row conditions: a small typed predicate language that compiles twice.

A role's condition ("own records", "my department and its children", "amount below 10,000",
"region = EU", "records of the people I manage") is stored as JSON and compiled both to a Python
check for one object and to a SQLAlchemy WHERE clause for lists, from the same tree and the same
subject facts, so a list never shows what a single read would refuse.

The two must agree even where SQL has three-valued logic: a comparison under ``not`` is guarded
with ``IS NOT NULL`` so a missing value makes it false (never NULL) in SQL exactly as in Python
and ``not`` stays a plain negation; outside ``not`` a NULL already counts as false in a WHERE.
Order comparisons are for numbers only, because string ordering
depends on the database's collation while Python's does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, and_, false, not_, or_, true
from sqlalchemy.orm import InstrumentedAttribute

Kind = Literal["string", "number", "user", "department"]
MAX_NODES = 50


@dataclass(frozen=True)
class Resource:
    """A kind of record that row conditions apply to: its model and the attributes they may name.
    By convention ``owner`` is a user id and ``department`` a department id."""

    name: str  # the permission prefix: notes.note
    attributes: dict[str, tuple[InstrumentedAttribute[Any], Kind]]


RESOURCES: dict[str, Resource] = {}
ATTRIBUTES: dict[str, Kind] = {}


def register(resource: Resource) -> Resource:
    for attr, (_, kind) in resource.attributes.items():
        if ATTRIBUTES.setdefault(attr, kind) != kind:
            raise ValueError(f"attribute {attr!r} is a {ATTRIBUTES[attr]} elsewhere, not a {kind}")
    RESOURCES[resource.name] = resource
    return resource


class Facts(Protocol):
    """What a condition may know about the person asking."""

    user_id: str
    department_id: str | None
    reports: frozenset[str]
    attributes: dict[str, str]

    def subtree(self, department_id: str) -> frozenset[str]: ...


# -- the language -------------------------------------------------------------------------------


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scalar = str | Decimal


def _attr_known(name: str) -> str:
    if name not in ATTRIBUTES:
        known = ", ".join(sorted(ATTRIBUTES))
        raise ValueError(f"unknown attribute {name!r}; conditions may name: {known}")
    return name


def _check_value(attr: str, value: Scalar) -> Scalar:
    if ATTRIBUTES[attr] == "number":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{attr!r} is a number; {value!r} is not") from None
        if not number.is_finite():
            raise ValueError(f"{attr!r} needs a finite number")
        return number
    if not isinstance(value, str):
        raise ValueError(f"{attr!r} is text; give {value} in quotes")
    return value


class Eq(_Node):
    """The attribute equals the value."""

    op: Literal["eq"]
    attr: str
    value: str | Decimal

    @field_validator("attr")
    @classmethod
    def _known(cls, v: str) -> str:
        return _attr_known(v)

    @field_validator("value")
    @classmethod
    def _typed(cls, v: Scalar, info: ValidationInfo) -> Scalar:
        return _check_value(info.data["attr"], v) if "attr" in info.data else v


class In(_Node):
    """The attribute is one of the values."""

    op: Literal["in"]
    attr: str
    values: list[str | Decimal] = Field(max_length=200)

    @field_validator("attr")
    @classmethod
    def _known(cls, v: str) -> str:
        return _attr_known(v)

    @field_validator("values")
    @classmethod
    def _typed(cls, v: list[Scalar], info: ValidationInfo) -> list[Scalar]:
        return [_check_value(info.data["attr"], x) for x in v] if "attr" in info.data else v


class Compare(_Node):
    """A number attribute compared with a number: ``amount lt 10000``."""

    op: Literal["lt", "le", "gt", "ge"]
    attr: str
    value: Decimal

    @field_validator("attr")
    @classmethod
    def _number(cls, v: str) -> str:
        if ATTRIBUTES.get(_attr_known(v)) != "number":
            raise ValueError(f"{v!r} is not a number; lt, le, gt and ge compare numbers only")
        return v

    @field_validator("value")
    @classmethod
    def _finite(cls, v: Decimal) -> Decimal:
        if not v.is_finite():
            raise ValueError("give a finite number")
        return v


class Owner(_Node):
    """The record's owner is the person asking."""

    op: Literal["owner"]


class InDepartment(_Node):
    """The record belongs to a department (``mine``: the asker's), with its sub-departments
    when ``children`` is true."""

    op: Literal["in_department"]
    department: str = Field(min_length=1, max_length=36)
    children: bool = True


class ManagerOfOwner(_Node):
    """The asker manages the record's owner directly."""

    op: Literal["manager_of_owner"]


class MatchesSubject(_Node):
    """A text attribute of the record equals the same-named attribute of the asker (``region``)."""

    op: Literal["matches_subject"]
    attr: str
    subject_attr: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @field_validator("attr")
    @classmethod
    def _text(cls, v: str) -> str:
        if ATTRIBUTES.get(_attr_known(v)) == "number":
            raise ValueError(f"{v!r} is a number; matches_subject compares text")
        return v


class All(_Node):
    op: Literal["all"]
    of: list[Predicate] = Field(max_length=20)


class Any_(_Node):
    op: Literal["any"]
    of: list[Predicate] = Field(max_length=20)


class Not(_Node):
    op: Literal["not"]
    of: Predicate


Predicate = Annotated[
    Eq | In | Compare | Owner | InDepartment | ManagerOfOwner | MatchesSubject | All | Any_ | Not,
    Field(discriminator="op"),
]
for _model in (All, Any_, Not):
    _model.model_rebuild()
_ADAPTER: TypeAdapter[Predicate] = TypeAdapter(Predicate)


def parse(data: Any) -> Predicate:
    """Validate stored or submitted JSON; raises pydantic's ValidationError naming the node."""
    predicate = _ADAPTER.validate_python(data)
    if sum(1 for _ in walk(predicate)) > MAX_NODES:
        raise ValueError(f"a condition may have at most {MAX_NODES} parts")
    return predicate


def dump(predicate: Predicate) -> dict[str, Any]:
    return _ADAPTER.dump_python(predicate, mode="json", exclude_defaults=False)  # type: ignore[no-any-return]


def walk(predicate: Predicate) -> Iterable[Predicate]:
    yield predicate
    if isinstance(predicate, All | Any_):
        for child in predicate.of:
            yield from walk(child)
    elif isinstance(predicate, Not):
        yield from walk(predicate.of)


def departments_named(predicate: Predicate) -> set[str]:
    """Department ids a condition names (not ``mine``), so the service can check they exist."""
    return {p.department for p in walk(predicate) if isinstance(p, InDepartment) and p.department != "mine"}


# -- compiling ----------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass
class _Compiler:
    resource: Resource
    facts: Facts
    _departments: dict[tuple[str, bool], frozenset[str]] = field(default_factory=dict)

    def column(self, attr: str) -> tuple[InstrumentedAttribute[Any], Kind] | None:
        return self.resource.attributes.get(attr)

    def departments(self, node: InDepartment) -> frozenset[str]:
        key = (node.department, node.children)
        if key not in self._departments:
            root = self.facts.department_id if node.department == "mine" else node.department
            if root is None:
                found: frozenset[str] = frozenset()
            else:
                found = self.facts.subtree(root) if node.children else frozenset({root})
            self._departments[key] = found
        return self._departments[key]

    # Python ------------------------------------------------------------------------------------

    def check(self, p: Predicate) -> Callable[[Any], bool]:
        if isinstance(p, All):
            parts = [self.check(c) for c in p.of]
            return lambda obj: all(f(obj) for f in parts)
        if isinstance(p, Any_):
            parts = [self.check(c) for c in p.of]
            return lambda obj: any(f(obj) for f in parts)
        if isinstance(p, Not):
            inner = self.check(p.of)
            return lambda obj: not inner(obj)
        if isinstance(p, Owner | ManagerOfOwner):
            return self.check_in("owner", {self.facts.user_id} if isinstance(p, Owner) else self.facts.reports)
        if isinstance(p, InDepartment):
            return self.check_in("department", self.departments(p))
        if isinstance(p, MatchesSubject):
            wanted = self.facts.attributes.get(p.subject_attr)
            return self.check_in(p.attr, set() if wanted is None else {wanted})
        if isinstance(p, Eq):
            return self.check_in(p.attr, {p.value})
        if isinstance(p, In):
            return self.check_in(p.attr, set(p.values))
        found = self.column(p.attr)
        if found is None:
            return lambda obj: False
        key, limit, op = found[0].key, p.value, p.op

        def compare(obj: Any) -> bool:
            value = _number(getattr(obj, key))
            if value is None:
                return False
            return {"lt": value < limit, "le": value <= limit, "gt": value > limit, "ge": value >= limit}[op]

        return compare

    def check_in(self, attr: str, values: set[Any] | frozenset[Any]) -> Callable[[Any], bool]:
        found = self.column(attr)
        if found is None or not values:
            return lambda obj: False
        key, kind = found[0].key, found[1]
        if kind == "number":
            numbers = {_number(v) for v in values}
            return lambda obj: getattr(obj, key) is not None and _number(getattr(obj, key)) in numbers
        return lambda obj: getattr(obj, key) in values

    # SQL ---------------------------------------------------------------------------------------

    def where(self, p: Predicate, negated: bool = False) -> ColumnElement[bool]:
        """``negated``: inside an odd number of ``not``. Only there can a NULL comparison change
        the outcome (``NOT NULL`` is NULL, not true), so only there is it guarded; elsewhere a
        NULL counts as false for WHERE exactly as in Python, and the plain comparison keeps the
        clause simple for the planner."""
        if isinstance(p, All):
            return and_(true(), *(self.where(c, negated) for c in p.of))
        if isinstance(p, Any_):
            return or_(false(), *(self.where(c, negated) for c in p.of))
        if isinstance(p, Not):
            return not_(self.where(p.of, not negated))
        if isinstance(p, Owner | ManagerOfOwner):
            values = {self.facts.user_id} if isinstance(p, Owner) else self.facts.reports
            return self.where_in("owner", values, negated)
        if isinstance(p, InDepartment):
            return self.where_in("department", self.departments(p), negated)
        if isinstance(p, MatchesSubject):
            wanted = self.facts.attributes.get(p.subject_attr)
            return self.where_in(p.attr, set() if wanted is None else {wanted}, negated)
        if isinstance(p, Eq):
            return self.where_in(p.attr, {p.value}, negated)
        if isinstance(p, In):
            return self.where_in(p.attr, set(p.values), negated)
        found = self.column(p.attr)
        if found is None:
            return false()
        column = found[0]
        compared = {"lt": column < p.value, "le": column <= p.value, "gt": column > p.value, "ge": column >= p.value}
        return _guarded(column, compared[p.op], negated)

    def where_in(self, attr: str, values: set[Any] | frozenset[Any], negated: bool) -> ColumnElement[bool]:
        found = self.column(attr)
        if found is None or not values:
            return false()
        column = found[0]
        ordered = sorted(values, key=str)
        return _guarded(column, column == ordered[0] if len(ordered) == 1 else column.in_(ordered), negated)


def _guarded(column: Any, test: ColumnElement[bool], negated: bool) -> ColumnElement[bool]:
    return and_(column.is_not(None), test) if negated else test


def compile_check(predicate: Predicate, resource: Resource, facts: Facts) -> Callable[[Any], bool]:
    return _Compiler(resource, facts).check(predicate)


def compile_where(predicate: Predicate, resource: Resource, facts: Facts) -> ColumnElement[bool]:
    return _Compiler(resource, facts).where(predicate)
