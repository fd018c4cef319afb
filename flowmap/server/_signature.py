"""Verify SDK-HMAC-SHA256 request signatures, as Huawei Cloud's SDKs compute them.

The signer (in every official SDK) builds a canonical request::

    METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
    SignedHeaders \\n hex(sha256(body))

and signs ``"SDK-HMAC-SHA256\\n" + X-Sdk-Date + "\\n" + hex(sha256(canonical))``
with HMAC-SHA256 keyed by the secret key. The ``Authorization`` header carries
``SDK-HMAC-SHA256 Access=AK, SignedHeaders=h1;h2, Signature=hex``.

This module rebuilds the canonical request from what arrived on the wire
(the raw, still percent-encoded path, the raw query string, the header bytes
and the body bytes) and compares signatures in constant time. It depends on
the standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from ..errors import FlowmapError, render_location

__all__ = [
    "AccessKey",
    "CredentialsError",
    "KeyRing",
    "SignatureError",
    "load_credentials",
    "verify_signature",
]

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
#: How far X-Sdk-Date may be from the server's clock, either way.
MAX_CLOCK_SKEW = timedelta(minutes=15)
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_AUTH_RE = re.compile(
    r"SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),"
    r"\s*Signature=([0-9a-fA-F]+)\s*"
)
# Headers a signature must cover, or it could be replayed with another
# date (beyond the window) or against another host.
_REQUIRED_SIGNED = ("host", "x-sdk-date")


class SignatureError(FlowmapError):
    """A request whose signature is missing, malformed, stale or wrong.

    ``reason`` is a short text safe to show to the caller: it never reveals
    what the expected signature was, nor whether an access key exists.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"SignatureError({self.reason!r})"


class CredentialsError(FlowmapError, ValueError):
    """A credentials file that cannot be used; ``location`` is a JSONPath."""

    def __init__(self, path: str, location: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.path = path
        self.location = location
        self.message = message

    def __str__(self) -> str:
        return f"credentials file {self.path}: {render_location(self.location)}: " + (
            self.message
        )

    def __repr__(self) -> str:
        return (
            f"CredentialsError({self.path!r}, {render_location(self.location)!r}, "
            f"{self.message!r})"
        )


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One AK/SK pair and the only project it may touch."""

    ak: str
    sk: str = ""
    project_id: str = ""

    def __repr__(self) -> str:  # never print the secret key
        return f"AccessKey(ak={self.ak!r}, project_id={self.project_id!r})"


class KeyRing:
    """The access keys a server accepts, looked up by AK.

    >>> ring = KeyRing([AccessKey("AK1", "SK1", "p1")])
    >>> ring.get("AK1").project_id, ring.get("nope")
    ('p1', None)
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[AccessKey]) -> None:
        self._keys = {key.ak: key for key in keys}

    def get(self, ak: str) -> AccessKey | None:
        return self._keys.get(ak)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._keys)} access keys)"


def load_credentials(path: str | Path) -> KeyRing:
    """Read a credentials file: a JSON array of ``{"ak", "sk", "project_id"}``.

    Each access key (AK) is bound to one project id: a request signed with
    it may touch that project only. AKs must be unique; every field is a
    non-empty string (project_id at most 64 characters).
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(
            name, (), f"cannot read: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise CredentialsError(name, (), "is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialsError(name, (), f"is not valid JSON: {exc}") from None
    return _parse_credentials(name, data)


def _parse_credentials(name: str, data: Any) -> KeyRing:
    if not isinstance(data, list) or not data:
        raise CredentialsError(
            name, (), 'must be a non-empty JSON array of {"ak", "sk", "project_id"}'
        )
    keys: list[AccessKey] = []
    seen: set[str] = set()
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise CredentialsError(name, (i,), "must be an object")
        extra = sorted(set(entry) - {"ak", "sk", "project_id"})
        if extra:
            raise CredentialsError(name, (i, extra[0]), "unknown field")
        values: dict[str, str] = {}
        for field, limit in (("ak", 128), ("sk", 256), ("project_id", 64)):
            value = entry.get(field)
            if not isinstance(value, str) or not 1 <= len(value) <= limit:
                raise CredentialsError(
                    name, (i, field), f"must be a string of 1 to {limit} characters"
                )
            values[field] = value
        if values["ak"] in seen:
            raise CredentialsError(name, (i, "ak"), "repeats an earlier access key")
        seen.add(values["ak"])
        keys.append(AccessKey(values["ak"], values["sk"], values["project_id"]))
    return KeyRing(keys)


def canonical_uri(raw_path: str) -> str:
    """The signer's canonical URI: each segment decoded, re-encoded, then ``/``.

    >>> canonical_uri("/v2/p%20x/fgs/workflows")
    '/v2/p%20x/fgs/workflows/'
    """
    path = "/".join(quote(part, safe="~") for part in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    """The signer's canonical query: pairs decoded, sorted, re-encoded.

    >>> canonical_query("status=success&limit=10&a=")
    'a=&limit=10&status=success'
    """
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    pairs.sort()
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def verify_signature(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    keys: KeyRing,
    now: datetime | None = None,
) -> AccessKey:
    """Check a request's SDK-HMAC-SHA256 signature; return the key that signed it.

    ``headers`` are the raw (name, value) byte pairs as they arrived (an ASGI
    scope's ``headers``). Raises :class:`SignatureError` when the signature is
    missing, malformed, made with an unknown key, older or newer than
    15 minutes, or does not match.
    """
    by_name: dict[str, list[bytes]] = {}
    for name_bytes, value_bytes in headers:
        by_name.setdefault(name_bytes.decode("latin-1").lower(), []).append(value_bytes)
    auth = by_name.get("authorization")
    if not auth:
        raise SignatureError(
            "the request is not signed: an Authorization header "
            "(SDK-HMAC-SHA256 with an access key) is required"
        )
    match = _AUTH_RE.fullmatch(auth[0].decode("latin-1"))
    if len(auth) != 1 or match is None:
        raise SignatureError(
            "the Authorization header is not of the form 'SDK-HMAC-SHA256 "
            "Access=..., SignedHeaders=..., Signature=...'"
        )
    ak, signed_text, signature = match.groups()
    signed = signed_text.split(";")
    if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
        raise SignatureError("SignedHeaders must be lower-case names in sorted order")
    for required in _REQUIRED_SIGNED:
        if required not in signed:
            raise SignatureError(f"the signature must cover the {required} header")
    canonical_headers = []
    for name in signed:
        values = by_name.get(name)
        if values is None or len(values) != 1:
            raise SignatureError(
                f"signed header {name} is "
                + ("missing" if values is None else "repeated")
            )
        try:
            value = values[0].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SignatureError(f"signed header {name} is not UTF-8") from None
        canonical_headers.append(f"{name}:{value}\n")
    date_text = by_name["x-sdk-date"][0].decode("latin-1").strip()
    try:
        date = datetime.strptime(date_text, DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError(
            f"X-Sdk-Date must be a UTC time as YYYYMMDDTHHMMSSZ, not {date_text!r}"
        ) from None
    now = now or datetime.now(timezone.utc)
    if abs(now - date) > MAX_CLOCK_SKEW:
        raise SignatureError(
            "X-Sdk-Date is more than 15 minutes away from the server's clock"
        )
    key = keys.get(ak)
    if key is None:
        # Same message as a wrong signature: do not tell which AKs exist.
        raise SignatureError("the signature does not match the request")
    if not body:
        payload_hash = _EMPTY_HASH
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
        declared = by_name.get("x-sdk-content-sha256")
        if declared is not None and declared[0].decode("latin-1") != payload_hash:
            # The SDK sends UNSIGNED-PAYLOAD only for bodies that are not
            # JSON; every body here is JSON, so the body is always signed.
            raise SignatureError("unsigned or mismatching X-Sdk-Content-Sha256")
    canonical = "\n".join(
        (
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            "".join(canonical_headers),
            signed_text,
            payload_hash,
        )
    )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            date_text,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        )
    )
    expected = hmac.new(
        key.sk.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("the signature does not match the request")
    return key
