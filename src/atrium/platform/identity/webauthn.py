"""WebAuthn (py_webauthn): security keys and passkeys, as a second factor and for passwordless sign-in.

Every ceremony starts with options carrying a fresh challenge; the server keeps only the challenge's
SHA-256, for five minutes, and accepts it once. The browser echoes the challenge inside
``clientDataJSON``, which is how an answer finds its ceremony. The relying party is the host of
``public_url`` and the only accepted origin is ``public_url``'s scheme, host and port, so a
phishing site's assertions are useless.

A credential counts as a second factor (``mfa.has_second_factor``). A passkey sign-in needs no
password: possession of the key plus the authenticator's user verification (PIN or biometric)
are two factors, so the session starts as an MFA session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from atrium.core.db import utcnow
from atrium.core.errors import AtriumError, BadRequest, Conflict, NotFound, Unauthorized
from atrium.platform.identity import events
from atrium.platform.identity.mfa import MFA_CHALLENGE
from atrium.platform.identity.models import User, WebAuthnChallenge, WebAuthnCredential
from atrium.platform.identity.service import usable_token
from atrium.platform.identity.sessions import SignedIn, TooManyAttempts, start_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.settings import Settings
    from atrium.runtime import Runtime

REGISTRATION, SECOND_FACTOR, PASSKEY = "registration", "second_factor", "passkey"
CHALLENGE_MINUTES = 5
RP_NAME = "Atrium"
# What a malformed credential makes the library's parsers raise (binascii.Error is a ValueError).
_PARSE_ERRORS = (WebAuthnException, ValueError, TypeError, KeyError)


class InvalidSignInChallenge(BadRequest):
    code = "invalid-challenge"
    title = "Invalid or expired sign-in challenge"

    def __init__(self) -> None:
        super().__init__("the sign-in challenge is invalid, expired or already used; sign in again", field="challenge")


@dataclass(frozen=True)
class RelyingParty:
    """Who the credentials belong to: ``id`` is a host name, ``origin`` what browsers put in clientDataJSON."""

    id: str
    origin: str


def relying_party(settings: Settings) -> RelyingParty:
    """The relying party of ``public_url``; a default port is left out of the origin, as browsers do."""
    url = urlsplit(settings.public_url)
    host = url.hostname or "localhost"
    shown = f"[{host}]" if ":" in host else host
    port = url.port if url.port not in (None, {"http": 80, "https": 443}.get(url.scheme)) else None
    return RelyingParty(id=host, origin=f"{url.scheme}://{shown}" + (f":{port}" if port else ""))


def _challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


async def _issue_challenge(
    session: AsyncSession, purpose: str, *, user_id: str | None = None, answers: str | None = None
) -> bytes:
    """A fresh 256-bit challenge; expired ones are purged here so unauthenticated callers cannot pile them up."""
    challenge, now = secrets.token_bytes(32), utcnow()
    await session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))
    session.add(
        WebAuthnChallenge(
            purpose=purpose,
            challenge_hash=_challenge_hash(challenge),
            user_id=user_id,
            answers=answers,
            expires_at=now + dt.timedelta(minutes=CHALLENGE_MINUTES),
        )
    )
    await session.flush()
    return challenge


async def _claim_challenge(
    session: AsyncSession, challenge: bytes, purpose: str, *, user_id: str | None = None, answers: str | None = None
) -> WebAuthnChallenge:
    """The unused, unexpired ceremony ``challenge`` belongs to, locked; the caller marks it used on success."""
    stmt = select(WebAuthnChallenge).where(
        WebAuthnChallenge.challenge_hash == _challenge_hash(challenge),
        WebAuthnChallenge.purpose == purpose,
        WebAuthnChallenge.used_at.is_(None),
        WebAuthnChallenge.expires_at > utcnow(),
    )
    if user_id is not None:
        stmt = stmt.where(WebAuthnChallenge.user_id == user_id)
    if answers is not None:
        stmt = stmt.where(WebAuthnChallenge.answers == answers)
    found = (await session.execute(stmt.with_for_update())).scalar_one_or_none()
    if found is None:
        raise BadRequest(
            "the credential answers no current challenge (options work once, for "
            f"{CHALLENGE_MINUTES} minutes); ask for new options",
            field="credential",
        )
    return found


def _client_challenge(client_data_json: bytes) -> bytes:
    try:
        return parse_client_data_json(client_data_json).challenge
    except _PARSE_ERRORS as exc:
        raise BadRequest(f"the credential's clientDataJSON is malformed: {exc}", field="credential") from exc


def _parse_registration(credential: dict[str, Any]) -> tuple[RegistrationCredential, bytes]:
    try:
        parsed = parse_registration_credential_json(credential)
    except _PARSE_ERRORS as exc:
        raise BadRequest(f"the credential is not a WebAuthn registration: {exc}", field="credential") from exc
    return parsed, _client_challenge(parsed.response.client_data_json)


def _parse_assertion(credential: dict[str, Any]) -> tuple[AuthenticationCredential, bytes]:
    try:
        parsed = parse_authentication_credential_json(credential)
    except _PARSE_ERRORS as exc:
        raise BadRequest(f"the credential is not a WebAuthn assertion: {exc}", field="credential") from exc
    return parsed, _client_challenge(parsed.response.client_data_json)


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(credential.credential_id),
        transports=[AuthenticatorTransport(t) for t in credential.transports if t in known] or None,
    )


async def _credentials_of(session: AsyncSession, user_id: str) -> list[WebAuthnCredential]:
    rows = await session.execute(
        select(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id).order_by(WebAuthnCredential.created_at)
    )
    return list(rows.scalars())


# -- registration (signed-in users) ---------------------------------------------------------------


async def registration_options(rt: Runtime, user: User) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as JSON: discoverable if the authenticator can (a passkey),
    and never a second credential on an authenticator that already holds one of the user's."""
    rp = relying_party(rt.settings)
    async with rt.db.platform_session() as session, session.begin():
        existing = await _credentials_of(session, user.id)
        challenge = await _issue_challenge(session, REGISTRATION, user_id=user.id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_id=user.id.encode(),  # the user handle: an opaque id, never the address
        user_name=user.email,
        user_display_name=user.email,
        challenge=challenge,
        timeout=CHALLENGE_MINUTES * 60_000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(c) for c in existing],
    )
    return options_to_json_dict(options)


async def register(rt: Runtime, user: User, credential: dict[str, Any], name: str) -> WebAuthnCredential:
    """Verify the browser's answer to the registration options and keep the credential."""
    parsed, challenge = _parse_registration(credential)
    rp = relying_party(rt.settings)
    async with rt.db.platform_session() as session, session.begin():
        ceremony = await _claim_challenge(session, challenge, REGISTRATION, user_id=user.id)
        try:
            verified = verify_registration_response(
                credential=parsed, expected_challenge=challenge, expected_rp_id=rp.id, expected_origin=rp.origin
            )
        except _PARSE_ERRORS as exc:
            raise BadRequest(f"the credential could not be verified: {exc}", field="credential") from exc
        credential_id = parsed.id
        taken = await session.execute(
            select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == credential_id)
        )
        if taken.first() is not None:
            raise Conflict("this authenticator's credential is already registered", field="credential")
        record = WebAuthnCredential(
            user_id=user.id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=[t.value for t in parsed.response.transports or []],
            aaguid=verified.aaguid,
            device_type=verified.credential_device_type.value,
            backed_up=verified.credential_backed_up,
            name=name,
        )
        session.add(record)
        ceremony.used_at = utcnow()
        await session.flush()
        await events.record(
            session,
            "user.mfa.enrolled",
            user_id=user.id,
            data={"kind": "webauthn", "credential": record.id, "name": name, "aaguid": verified.aaguid},
        )
    return record


async def list_own(rt: Runtime, user: User) -> list[WebAuthnCredential]:
    async with rt.db.platform_session() as session:
        return await _credentials_of(session, user.id)


async def _own(session: AsyncSession, user: User, credential_id: str) -> WebAuthnCredential:
    """One of the user's credentials by its Atrium id; another user's is simply not found."""
    record = await session.get(WebAuthnCredential, credential_id)
    if record is None or record.user_id != user.id:
        raise NotFound(f"no security key or passkey {credential_id!r}", field="credential_id")
    return record


async def rename(rt: Runtime, user: User, credential_id: str, name: str) -> WebAuthnCredential:
    async with rt.db.platform_session() as session, session.begin():
        record = await _own(session, user, credential_id)
        record.name = name
        await events.record(
            session, "user.mfa.renamed", user_id=user.id, data={"kind": "webauthn", "credential": record.id}
        )
    return record


async def remove(rt: Runtime, user: User, credential_id: str) -> None:
    """Forget a credential; with no factor left, a password alone signs the user in again."""
    async with rt.db.platform_session() as session, session.begin():
        record = await _own(session, user, credential_id)
        await session.delete(record)
        await events.record(
            session,
            "user.mfa.removed",
            user_id=user.id,
            data={"kind": "webauthn", "credential": record.id, "name": record.name},
        )


# -- assertions: second factor and passkey sign-in --------------------------------------------------


def _authentication_options(
    rp: RelyingParty, challenge: bytes, allowed: list[WebAuthnCredential], uv: UserVerificationRequirement
) -> dict[str, Any]:
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=CHALLENGE_MINUTES * 60_000,
        allow_credentials=[_descriptor(c) for c in allowed],
        user_verification=uv,
    )
    return options_to_json_dict(options)


async def _verify_assertion(
    rt: Runtime,
    session: AsyncSession,
    assertion: AuthenticationCredential,
    challenge: bytes,
    purpose: str,
    *,
    user_id: str | None = None,
    answers: str | None = None,
) -> WebAuthnCredential:
    """Check an assertion against its ceremony and its credential; on success (only) the counter
    moves on and the ceremony is spent. ``user_id`` None means a discoverable (passkey) sign-in,
    which must carry the user handle and user verification."""
    ceremony = await _claim_challenge(session, challenge, purpose, user_id=user_id, answers=answers)
    stmt = select(WebAuthnCredential).where(WebAuthnCredential.credential_id == assertion.id)
    if user_id is not None:
        stmt = stmt.where(WebAuthnCredential.user_id == user_id)
    record = (await session.execute(stmt.with_for_update())).scalar_one_or_none()
    if record is None:
        raise Unauthorized("this security key or passkey is not registered for the account", field="credential")
    handle = assertion.response.user_handle
    if (handle is None and user_id is None) or (handle is not None and handle != record.user_id.encode()):
        raise Unauthorized("the credential's user handle does not match its account", field="credential")
    rp = relying_party(rt.settings)
    try:
        verified = verify_authentication_response(
            credential=assertion,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=record.public_key,
            credential_current_sign_count=record.sign_count,
            require_user_verification=user_id is None,
        )
    except _PARSE_ERRORS as exc:
        raise Unauthorized(f"the assertion was refused: {exc}", field="credential") from exc
    record.sign_count, record.last_used_at = verified.new_sign_count, utcnow()
    record.backed_up = verified.credential_backed_up
    ceremony.used_at = utcnow()
    return record


async def _check_throttle(rt: Runtime, keys: tuple[str, ...], what: str) -> None:
    wait = await rt.login_throttle.retry_after(*keys)
    if wait > 0:
        raise TooManyAttempts(f"too many failed {what}; try again in {int(wait) + 1} s", retry_after=int(wait) + 1)


async def second_factor_options(rt: Runtime, token: str) -> dict[str, Any]:
    """Assertion options for the user behind a password sign-in's challenge, limited to their credentials."""
    async with rt.db.platform_session() as session, session.begin():
        pending = (await session.execute(usable_token(token, MFA_CHALLENGE))).scalar_one_or_none()
        if pending is None:
            raise InvalidSignInChallenge()
        allowed = await _credentials_of(session, pending.user_id)
        if not allowed:
            raise BadRequest("the account has no security key or passkey; answer with a TOTP code", field="challenge")
        challenge = await _issue_challenge(session, SECOND_FACTOR, user_id=pending.user_id, answers=pending.id)
    return _authentication_options(
        relying_party(rt.settings), challenge, allowed, UserVerificationRequirement.PREFERRED
    )


async def answer_second_factor(
    rt: Runtime, token: str, credential: dict[str, Any], *, ip: str | None, user_agent: str | None
) -> SignedIn:
    """Answer a password sign-in's challenge with a security key; spends it and starts the session."""
    assertion, challenge = _parse_assertion(credential)
    failure: AtriumError | None = None
    async with rt.db.platform_session() as session, session.begin():
        pending = (await session.execute(usable_token(token, MFA_CHALLENGE).with_for_update())).scalar_one_or_none()
        if pending is None:
            raise InvalidSignInChallenge()
        user = await session.get(User, pending.user_id)
        assert user is not None
        keys = (f"mfa:{user.id}",)
        await _check_throttle(rt, keys, "second-factor answers")
        try:
            await _verify_assertion(
                rt, session, assertion, challenge, SECOND_FACTOR, user_id=user.id, answers=pending.id
            )
        except AtriumError as exc:
            failure = exc
        else:
            pending.used_at = utcnow()
            await rt.login_throttle.succeeded(*keys)
    if failure is not None:
        await rt.login_throttle.failed(*keys)
        async with rt.db.platform_session() as session, session.begin():
            data = {"kind": "webauthn", "reason": failure.detail[:300]}
            await events.record(session, "user.mfa.failed", user_id=user.id, data=data, actor=user.email)
        raise failure
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=True)


async def passkey_options(rt: Runtime) -> dict[str, Any]:
    """Assertion options for a discoverable credential: no user yet, so no allowed list; the
    authenticator must verify the user (it replaces the password)."""
    async with rt.db.platform_session() as session, session.begin():
        challenge = await _issue_challenge(session, PASSKEY)
    return _authentication_options(relying_party(rt.settings), challenge, [], UserVerificationRequirement.REQUIRED)


async def passkey_sign_in(
    rt: Runtime, credential: dict[str, Any], *, ip: str | None, user_agent: str | None
) -> SignedIn:
    """Passwordless sign-in with a passkey; failures are throttled per IP like passwords."""
    keys = (f"ip:{ip}",)
    await _check_throttle(rt, keys, "sign-ins")
    user: User | None = None
    try:
        assertion, challenge = _parse_assertion(credential)
        async with rt.db.platform_session() as session, session.begin():
            record = await _verify_assertion(rt, session, assertion, challenge, PASSKEY)
            user = await session.get(User, record.user_id)
            assert user is not None
    except AtriumError as failure:
        await rt.login_throttle.failed(*keys)
        async with rt.db.platform_session() as session, session.begin():
            data = {"method": "passkey", "ip": ip, "reason": failure.detail[:300]}
            await events.record(session, "user.login_failed", user_id=None, data=data)
        raise
    await rt.login_throttle.succeeded(*keys)
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=True)
