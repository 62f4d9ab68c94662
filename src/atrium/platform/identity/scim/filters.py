"""SCIM filters (RFC 7644 §3.4.2.2) and sortBy, turned into SQLAlchemy clauses that run in the database.

scim2-filter-parser parses the filter; its syntax tree is walked here against a table of the
attributes each resource supports. Multi-valued attributes (``emails``, ``members``, ``groups``)
become ``EXISTS`` subqueries, so "any value matches" holds as RFC 7644 asks. Strings that are not
case-exact compare lowercased; an unknown attribute, an operator that does not fit the attribute's
type, or a malformed filter is ``invalidFilter``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from scim2_filter_parser import ast  # type: ignore[import-untyped]
from scim2_filter_parser.lexer import SCIMLexer  # type: ignore[import-untyped]
from scim2_filter_parser.parser import SCIMParser  # type: ignore[import-untyped]
from scim2_models import InvalidFilterException, InvalidValueException
from sqlalchemy import ColumnElement, and_, exists, func, not_, or_

from atrium.platform.identity.scim.models import Group, GroupMember, ScimUser, ScimUserEmail
from atrium.platform.identity.scim.resources import GROUP_SCHEMA, USER_SCHEMA

MAX_FILTER_LENGTH = 2000


class Kind(Enum):
    exact = "exact"  # a case-exact string
    text = "text"  # a case-insensitive string
    boolean = "boolean"
    moment = "dateTime"


@dataclass(frozen=True)
class Attr:
    """A single-valued attribute: the column holding it and how it compares."""

    column: Any
    kind: Kind


@dataclass(frozen=True)
class MultiAttr:
    """A multi-valued complex attribute: its sub-attributes, and how to ask whether any value matches."""

    subs: dict[str, Attr]
    any_value: Callable[[ColumnElement[bool]], ColumnElement[bool]]
    default_sub: str = "value"


@dataclass(frozen=True)
class Catalog:
    """What one resource type can be filtered and sorted on, by lowercased attribute path."""

    schema: str
    simple: dict[str, Attr]
    multi: dict[str, MultiAttr] = field(default_factory=dict)


def _email_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(ScimUserEmail.scim_user_id == ScimUser.id, condition)


def _user_group_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        GroupMember.user_id == ScimUser.user_id,
        GroupMember.tenant_id == ScimUser.tenant_id,
        Group.id == GroupMember.group_id,
        condition,
    )


def _member_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        GroupMember.group_id == Group.id,
        ScimUser.user_id == GroupMember.user_id,
        ScimUser.tenant_id == Group.tenant_id,
        condition,
    )


USERS = Catalog(
    schema=USER_SCHEMA,
    simple={
        "id": Attr(ScimUser.id, Kind.exact),
        "externalid": Attr(ScimUser.external_id, Kind.exact),
        "username": Attr(ScimUser.user_name, Kind.text),
        "displayname": Attr(ScimUser.display_name, Kind.text),
        "active": Attr(ScimUser.active, Kind.boolean),
        "name.givenname": Attr(ScimUser.given_name, Kind.text),
        "name.familyname": Attr(ScimUser.family_name, Kind.text),
        "meta.created": Attr(ScimUser.created_at, Kind.moment),
        "meta.lastmodified": Attr(ScimUser.updated_at, Kind.moment),
    },
    multi={
        "emails": MultiAttr(
            subs={
                "value": Attr(ScimUserEmail.value, Kind.text),
                "type": Attr(ScimUserEmail.type, Kind.text),
                "primary": Attr(ScimUserEmail.primary, Kind.boolean),
            },
            any_value=_email_exists,
        ),
        "groups": MultiAttr(
            subs={"value": Attr(Group.id, Kind.exact), "display": Attr(Group.display_name, Kind.text)},
            any_value=_user_group_exists,
        ),
    },
)

GROUPS = Catalog(
    schema=GROUP_SCHEMA,
    simple={
        "id": Attr(Group.id, Kind.exact),
        "externalid": Attr(Group.external_id, Kind.exact),
        "displayname": Attr(Group.display_name, Kind.text),
        "meta.created": Attr(Group.created_at, Kind.moment),
        "meta.lastmodified": Attr(Group.updated_at, Kind.moment),
    },
    multi={"members": MultiAttr(subs={"value": Attr(ScimUser.id, Kind.exact)}, any_value=_member_exists)},
)


def _invalid(detail: str) -> InvalidFilterException:
    return InvalidFilterException(detail=detail)


def parse(text: str) -> Any:
    """The scim2-filter-parser syntax tree of a filter, or ``invalidFilter``."""
    if not text.strip():
        raise _invalid("the filter is empty")
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as exc:  # the lexer raises ValueError, the parser SCIMParserError
        raise _invalid(f"the filter is malformed: {exc}") from None
    if tree is None:
        raise _invalid("the filter is malformed")
    return tree


def where(catalog: Catalog, text: str) -> ColumnElement[bool]:
    """The WHERE clause a filter stands for."""
    return _Translator(catalog).node(parse(text), scope=None)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{value!r} is not a dateTime (RFC 3339)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


_ORDER: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda column, value: column == value,
    "gt": lambda column, value: column > value,
    "ge": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "le": lambda column, value: column <= value,
}


def compare(attr: Attr, op: str, raw: str | None, name: str) -> ColumnElement[bool]:
    """One comparison (``pr`` when ``raw`` is None) on one column."""
    column = attr.column
    if op == "pr":
        present: ColumnElement[bool] = column.is_not(None)
        return and_(present, column != "") if attr.kind in (Kind.text, Kind.exact) else present
    assert raw is not None
    if raw == "null":
        if op in ("eq", "ne"):
            absent: ColumnElement[bool] = column.is_(None) if op == "eq" else column.is_not(None)
            return absent
        raise _invalid(f"'{op} null' is not a comparison ({name})")
    value: Any = raw
    if attr.kind is Kind.boolean:
        if op not in ("eq", "ne") or raw.lower() not in ("true", "false"):
            raise _invalid(f"{name} is a boolean: compare it with 'eq true' or 'eq false'")
        value = raw.lower() == "true"
    elif attr.kind is Kind.moment:
        if op in ("co", "sw", "ew"):
            raise _invalid(f"{name} is a dateTime: '{op}' does not apply")
        value = _moment(raw)
    elif attr.kind is Kind.text:
        column, value = func.lower(column), raw.lower()
    if op == "ne":
        return or_(attr.column.is_(None), column != value)
    if op in ("co", "sw", "ew"):
        pattern = _like_escape(value)
        pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op]
        clause: ColumnElement[bool] = column.like(pattern, escape="\\")
    elif op in _ORDER:
        clause = _ORDER[op](column, value)
    else:
        raise _invalid(f"the operator {op!r} is not supported")
    # An absent value matches nothing, and ``not`` of that matches: two-valued, unlike SQL's NULL.
    return and_(attr.column.is_not(None), clause)


@dataclass
class _Translator:
    catalog: Catalog

    def node(self, node: Any, scope: MultiAttr | None) -> ColumnElement[bool]:
        if isinstance(node, ast.Filter):
            clause = self._value_path(node, scope) if node.namespace is not None else self.node(node.expr, scope)
            return not_(clause) if node.negated else clause
        if isinstance(node, ast.LogExpr):
            left, right = self.node(node.expr1, scope), self.node(node.expr2, scope)
            return and_(left, right) if node.op.lower() == "and" else or_(left, right)
        if isinstance(node, ast.AttrExpr):
            return self._comparison(node, scope)
        raise _invalid("the filter is malformed")

    def _value_path(self, node: Any, scope: MultiAttr | None) -> ColumnElement[bool]:
        """``emails[type eq "work" and value co "@acme"]``: one value meets every condition."""
        path = node.namespace
        if scope is not None or not isinstance(path.attr_name, str) or path.sub_attr is not None:
            raise _invalid("nested or qualified value filters are not supported")
        self._check_uri(path.uri)
        multi = self.catalog.multi.get(path.attr_name.lower())
        if multi is None:
            raise _invalid(f"{path.attr_name!r} is not a multi-valued attribute that can be filtered")
        return multi.any_value(self.node(node.expr, multi))

    def _check_uri(self, uri: str | None) -> None:
        if uri is not None and uri.lower() != self.catalog.schema.lower():
            raise _invalid(f"the schema {uri!r} is not this resource's")

    def _comparison(self, node: Any, scope: MultiAttr | None) -> ColumnElement[bool]:
        path = node.attr_path
        if not isinstance(path.attr_name, str):
            raise _invalid("value filters followed by a sub-attribute are not supported in filters")
        self._check_uri(path.uri)
        op = node.value.lower()
        raw = node.comp_value.value if node.comp_value is not None else None
        name = path.attr_name + (f".{path.sub_attr.value}" if path.sub_attr is not None else "")
        if scope is not None:
            if path.sub_attr is not None or path.attr_name.lower() not in scope.subs:
                raise _invalid(f"{name!r} is not a sub-attribute here")
            return compare(scope.subs[path.attr_name.lower()], op, raw, name)
        simple = self.catalog.simple.get(name.lower())
        if simple is not None:
            return compare(simple, op, raw, name)
        multi = self.catalog.multi.get(path.attr_name.lower())
        if multi is None:
            raise _invalid(f"the attribute {name!r} cannot be filtered on")
        sub = path.sub_attr.value.lower() if path.sub_attr is not None else multi.default_sub
        if sub not in multi.subs:
            raise _invalid(f"the attribute {name!r} cannot be filtered on")
        if op == "ne" and raw is not None:  # no value equals it
            return not_(multi.any_value(compare(multi.subs[sub], "eq", raw, name)))
        return multi.any_value(compare(multi.subs[sub], op, raw, name))


def sort_column(catalog: Catalog, path: str) -> Any:
    """The column ``sortBy`` names; only single-valued attributes sort (``invalidValue`` otherwise)."""
    name = path
    if name.lower().startswith(catalog.schema.lower() + ":"):
        name = name[len(catalog.schema) + 1 :]
    attr = catalog.simple.get(name.lower())
    if attr is None:
        raise InvalidValueException(detail=f"cannot sort on {path!r}")
    return func.lower(attr.column) if attr.kind is Kind.text else attr.column
