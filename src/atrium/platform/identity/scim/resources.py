"""The SCIM resources Atrium serves, as scim2-models classes, and what discovery publishes.

Only the attributes Atrium keeps are declared, so the published schemas tell an IdP exactly what
round-trips. Attributes an IdP sends beyond them (phone numbers, titles, extensions…) are ignored
rather than refused (``ScimPolicy.Unknown.ignore``): real IdPs send what their mapping holds.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import EmailStr, Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    ExtensibleStringEnum,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    Schema,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

MAX_RESULTS = 200
"""The most resources one list page carries (``count`` is capped there)."""

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


class Name(ComplexAttribute):
    """The components of the user's real name."""

    family_name: str | None = None
    """The family name of the User, or last name in most Western languages."""

    given_name: str | None = None
    """The given name of the User, or first name in most Western languages."""


class Email(ComplexAttribute):
    """An email address of the user, as the IdP lists it."""

    class Type(ExtensibleStringEnum):
        work = "work"
        home = "home"
        other = "other"

    value: Annotated[EmailStr | None, Required.true] = None
    """The email address."""

    type: Type | None = None
    """A label indicating the address's function, e.g. 'work' or 'home'."""

    primary: bool | None = None
    """Whether this is the user's preferred address; at most one is."""


class UserGroup(ComplexAttribute):
    """A group of the tenant the user is a direct member of (read-only: change it through Groups)."""

    value: Annotated[str | None, Mutability.read_only] = None
    """The id of the group."""

    ref: Annotated[Reference["Group"] | None, Mutability.read_only] = Field(  # noqa: UP037 (a SCIM type name)
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the group."""

    display: Annotated[str | None, Mutability.read_only] = None
    """The group's display name."""


class User(Resource[Any]):
    """User Account"""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    """Unique identifier for the User within the tenant, typically their sign-in email address."""

    name: Name | None = None
    """The components of the user's real name."""

    Name: ClassVar[type[ComplexAttribute]] = Name

    display_name: str | None = None
    """The name of the User, suitable for display to end-users."""

    active: bool | None = None
    """Whether the user may use the tenant; false suspends their membership."""

    emails: Annotated[list[Email] | None, Required.true] = None
    """Email addresses for the user; the primary one (else the first) names the person on the
    platform when the user is created."""

    Emails: ClassVar[type[ComplexAttribute]] = Email

    groups: Annotated[list[UserGroup] | None, Mutability.read_only] = None
    """The tenant's groups the user is a direct member of."""

    Groups: ClassVar[type[ComplexAttribute]] = UserGroup


class GroupMember(ComplexAttribute):
    """A member of the group: a user of the same tenant, named by its SCIM id."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    """The SCIM id of the member user."""

    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: UP037 (a SCIM type name)
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the member user."""

    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])
    """The kind of member: always 'User' (groups do not nest)."""


class Group(Resource[Any]):
    """Group"""

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true, Uniqueness.server] = None
    """The group's name, unique within the tenant."""

    members: list[GroupMember] | None = None
    """The members of the group."""

    Members: ClassVar[type[ComplexAttribute]] = GroupMember


POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    # Microsoft Entra sends "remove" with a value selecting the members to remove.
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
)

CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="The tenant's SCIM token (scim_…), created by a Tenant Admin.",
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(models=[User, Group], config=CONFIG, policy=POLICY)


def schemas() -> list[Schema]:
    """Every schema /Schemas publishes: the two resources and the three discovery ones."""
    return [*PROVIDER.schemas, *(model.to_schema() for model in (ServiceProviderConfig, ResourceType, Schema))]


def resource_types() -> list[ResourceType]:
    return list(PROVIDER.resource_types)
