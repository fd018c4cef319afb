"""The SDK-HMAC-SHA256 verifier against the official SDK's own signer.

Requests are signed by ``huaweicloudsdkcore``'s ``Signer`` (what the SDK
does before sending), then verified by flowmap's verifier from the bytes
that would go on the wire; any change to what was signed must fail.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("huaweicloudsdkcore")

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from flowmap.server._signature import (
    AccessKey,
    CredentialsError,
    KeyRing,
    SignatureError,
    load_credentials,
    verify_signature,
)

AK, SK, PROJECT = "AKFLOWMAPTEST", "secret/key+with=odd~chars", "proj-1"
KEYS = KeyRing([AccessKey(AK, SK, PROJECT)])
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


def signed(
    method: str = "POST",
    path_params: tuple[str, ...] = (PROJECT, "wf-1"),
    query: list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b'{"input": {"a": 1}}',
    when: datetime = NOW,
    sk: str = SK,
) -> dict[str, Any]:
    """Sign like the SDK; return what the wire would carry."""
    path = "/v2/{}/fgs/workflows/{}/executions".format(
        *(quote(p, safe="") for p in path_params)
    )
    header_params = {
        "Content-Type": "application/json",
        "X-Sdk-Date": when.strftime("%Y%m%dT%H%M%SZ"),
        "X-Project-Id": PROJECT,
        **(headers or {}),
    }
    request = SdkRequest(
        method=method,
        schema="http",
        host="127.0.0.1:8080",
        resource_path=path,
        query_params=list(query or []),
        header_params=header_params,
        body=body,
    )
    Signer(BasicCredentials(AK, sk, PROJECT)).sign(request)
    raw_query = request.uri.partition("?")[2]
    return {
        "method": method,
        "raw_path": request.resource_path,
        "raw_query": raw_query,
        # requests sends str header values as latin-1 bytes.
        "headers": [
            (k.lower().encode("latin-1"), str(v).encode("latin-1"))
            for k, v in request.header_params.items()
        ],
        "body": request.body or b"",
    }


def verify(wire: dict[str, Any], now: datetime = NOW) -> AccessKey:
    return verify_signature(**wire, keys=KEYS, now=now)


def replace_header(wire: dict[str, Any], name: bytes, value: bytes) -> dict[str, Any]:
    headers = [(k, value if k == name else v) for k, v in wire["headers"]]
    return {**wire, "headers": headers}


def test_sdk_signature_verifies() -> None:
    key = verify(signed(query=[("limit", 10), ("status", "success")]))
    assert key.project_id == PROJECT
    assert "secret" not in repr(key)


def test_empty_body_and_get() -> None:
    verify(signed(method="GET", body=b""))


@pytest.mark.parametrize(
    "skew, ok",
    [
        (timedelta(minutes=14, seconds=59), True),
        (-timedelta(minutes=14, seconds=59), True),
        (timedelta(minutes=15, seconds=1), False),
        (-timedelta(minutes=15, seconds=1), False),
    ],
)
def test_date_window(skew: timedelta, ok: bool) -> None:
    wire = signed(when=NOW + skew)
    if ok:
        verify(wire)
    else:
        with pytest.raises(SignatureError, match="15 minutes"):
            verify(wire)


TAMPERS = {
    "method": lambda w: {**w, "method": "PUT"},
    "path": lambda w: {**w, "raw_path": w["raw_path"].replace("wf-1", "wf-2")},
    "query-added": lambda w: {**w, "raw_query": "limit=1"},
    "body": lambda w: {**w, "body": w["body"].replace(b"1", b"2")},
    "body-dropped": lambda w: {**w, "body": b""},
    "signed-header": lambda w: replace_header(w, b"x-project-id", b"other"),
    "date": lambda w: replace_header(w, b"x-sdk-date", b"20261201T120001Z"),
    "host": lambda w: replace_header(w, b"host", b"127.0.0.1:9999"),
    "signature": lambda w: replace_header(
        w,
        b"authorization",
        dict(w["headers"])[b"authorization"][:-4] + b"0000",
    ),
    "unknown-ak": lambda w: replace_header(
        w,
        b"authorization",
        dict(w["headers"])[b"authorization"].replace(AK.encode(), b"AKOTHER"),
    ),
    "no-authorization": lambda w: {
        **w,
        "headers": [(k, v) for k, v in w["headers"] if k != b"authorization"],
    },
    "garbled-authorization": lambda w: replace_header(
        w, b"authorization", b"Basic dXNlcjpwYXNz"
    ),
    "unsigned-payload": lambda w: {
        **w,
        "headers": [*w["headers"], (b"x-sdk-content-sha256", b"UNSIGNED-PAYLOAD")],
    },
    "signed-header-dropped": lambda w: {
        **w,
        "headers": [(k, v) for k, v in w["headers"] if k != b"x-project-id"],
    },
    "signed-header-repeated": lambda w: {
        **w,
        "headers": [*w["headers"], (b"x-project-id", b"proj-1")],
    },
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampered_requests_fail(name: str) -> None:
    wire = signed(query=[("limit", 10)])
    verify(wire)
    with pytest.raises(SignatureError) as info:
        verify(TAMPERS[name](wire))
    assert SK not in str(info.value)


def test_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(signed(sk="another-secret"))


def test_signature_must_cover_host_and_date() -> None:
    wire = signed()
    auth = dict(wire["headers"])[b"authorization"].decode()
    stripped = auth.replace("host;", "")
    with pytest.raises(SignatureError, match="host"):
        verify(replace_header(wire, b"authorization", stripped.encode()))


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(
    workflow_id=_text,
    query=st.lists(st.tuples(st.sampled_from(["a", "b", "limit", "z~"]), _text)),
    header_value=_text.map(str.strip).filter(bool),
    body=st.binary(max_size=64),
)
def test_property_sdk_signatures_verify_and_tampers_fail(
    workflow_id: str, query: list[tuple[str, str]], header_value: str, body: bytes
) -> None:
    wire = signed(
        path_params=(PROJECT, workflow_id),
        query=query,
        headers={"X-WorkflowRun-ID": header_value},
        body=body,
    )
    assert verify(wire).ak == AK
    with pytest.raises(SignatureError):
        verify({**wire, "body": body + b"x"})
    with pytest.raises(SignatureError):
        verify(replace_header(wire, b"x-workflowrun-id", b"tampered"))


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text(
        json.dumps(
            [
                {"ak": "A1", "sk": "S1", "project_id": "p1"},
                {"ak": "A2", "sk": "S2", "project_id": "p2"},
            ]
        )
    )
    ring = load_credentials(path)
    assert len(ring) == 2
    key = ring.get("A2")
    assert key is not None and key.project_id == "p2"


@pytest.mark.parametrize(
    "content, location",
    [
        ("[]", "$"),
        ("{", "$"),
        ('[{"ak": "A", "sk": "S"}]', "$[0].project_id"),
        ('[{"ak": "A", "sk": "", "project_id": "p"}]', "$[0].sk"),
        ('[{"ak": "A", "sk": "S", "project_id": "p", "x": 1}]', "$[0].x"),
        (
            '[{"ak": "A", "sk": "S", "project_id": "p"},'
            ' {"ak": "A", "sk": "T", "project_id": "q"}]',
            "$[1].ak",
        ),
        ("[1]", "$[0]"),
    ],
)
def test_bad_credentials_files(tmp_path: Path, content: str, location: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(content)
    with pytest.raises(CredentialsError) as info:
        load_credentials(path)
    assert f": {location}: " in str(info.value)


def test_missing_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credentials(tmp_path / "nope.json")


_header_bytes = st.binary(max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(
        _header_bytes,
        st.builds(
            lambda access, signed, signature: (
                f"SDK-HMAC-SHA256 Access={access}, SignedHeaders={signed}, "
                f"Signature={signature}"
            ).encode("utf-8", "surrogatepass"),
            _text,
            st.sampled_from(["host;x-sdk-date", "x-sdk-date;host", "host", "a;;b", ""]),
            st.text(alphabet="0123456789abcdefX", max_size=64),
        ),
    ),
    date=_header_bytes,
    raw_path=st.text(max_size=40),
    raw_query=st.text(max_size=40),
    body=st.binary(max_size=40),
)
def test_property_only_signature_errors_escape(
    authorization: bytes, date: bytes, raw_path: str, raw_query: str, body: bytes
) -> None:
    headers = [
        (b"authorization", authorization),
        (b"x-sdk-date", date),
        (b"host", b"127.0.0.1:8080"),
    ]
    with pytest.raises(SignatureError):
        verify_signature(
            method="POST",
            raw_path=raw_path,
            raw_query=raw_query,
            headers=headers,
            body=body,
            keys=KEYS,
            now=NOW,
        )
