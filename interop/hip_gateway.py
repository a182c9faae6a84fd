"""What interop/hip_dataflow.py's HIP needs to talk to the sandbox, apart from Fidelius: JSON
over HTTP (never through a proxy: everything is on the loopback address), the gateway's two
envelopes (v0.5: requestId, timestamp and `resp` in the body; v3: REQUEST-ID, TIMESTAMP and
X-CM-ID headers and `response`), the verification of the gateway's callback tokens against its
JWKS as a HIP must do it, and the sandbox server itself, started on a free port.
Python standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fidelius_ref import Failed, expect

# DER DigestInfo header of a SHA-256 digest, for RS256 (PKCS #1 v1.5) verification.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def now_iso(after: float = 0) -> str:
    """Now (or `after` seconds from now) in ABDM's TIMESTAMP form: UTC, milliseconds, `Z`."""
    at = datetime.now(timezone.utc) + timedelta(seconds=after)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def b64url(text: str) -> bytes:
    """Base64url without its padding, as JWTs and JWKs carry it, decoded."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---- HTTP -----------------------------------------------------------------------------------

# No proxy: every call goes to the loopback address, whatever http_proxy says.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One JSON call: (status, the JSON reply or its text, None when empty)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=15) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise Failed(f"{method} {url}: {e}") from None
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def expect_status(reply: tuple[int, Any], status: int, what: str) -> Any:
    """The body of `reply`, which must have `status`."""
    expect(reply[0] == status, f"{what}: {reply[0]} {json.dumps(reply[1])[:400]}")
    return reply[1]


class Gateway:
    """A HIP's side of the gateway: its session, its bridge, and messages in either envelope."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""

    def session(self, client_id: str, client_secret: str) -> None:
        """Takes a gateway session (`POST /gateway/v0.5/sessions`) as the HIP's client."""
        body = {"clientId": client_id, "clientSecret": client_secret}
        reply = expect_status(call("POST", f"{self.base}/gateway/v0.5/sessions", body), 200, "session")
        self.token = reply["accessToken"]

    def add_services(self, services: list[dict]) -> None:
        """Registers the HIP/HIU services the client runs (`PUT /gateway/v1/bridges/addUpdateServices`,
        as on the live gateway): each id then belongs to this client, and its callbacks go to its
        bridge."""
        headers = {"Authorization": f"Bearer {self.token}"}
        path = "/gateway/v1/bridges/addUpdateServices"
        expect_status(call("PUT", self.base + path, services, headers), 200, f"PUT {path}")

    def register_bridge(self, url: str, version: str) -> None:
        """Registers the bridge URL; the version of this call is the one the HIP is called in."""
        if version == "v3":
            path, headers, status = "/api/hiecm/gateway/v3/bridge/url", self.v3_headers(), 202
        else:
            path, headers, status = "/gateway/v1/bridges", {"Authorization": f"Bearer {self.token}"}, 200
        expect_status(call("PATCH", self.base + path, {"url": url}, headers), status, f"PATCH {path}")

    def v3_headers(self) -> dict[str, str]:
        """The v3 envelope: the session token, a fresh REQUEST-ID, TIMESTAMP, X-CM-ID."""
        return {
            "Authorization": f"Bearer {self.token}",
            "REQUEST-ID": str(uuid.uuid4()),
            "TIMESTAMP": now_iso(),
            "X-CM-ID": "sbx",
        }

    def send(self, version: str, paths: tuple[str, str], body: dict, answers: str | None = None) -> None:
        """A HIP -> gateway message; v0.5 carries requestId/timestamp/resp in the body, v3 the
        REQUEST-ID/TIMESTAMP headers and `response`. The gateway must accept it (202)."""
        body = dict(body)
        if version == "v3":
            headers = self.v3_headers()
            if answers:
                body["response"] = {"requestId": answers}
            path = paths[1]
        else:
            headers = {"Authorization": f"Bearer {self.token}", "X-CM-ID": "sbx"}
            body.update(requestId=str(uuid.uuid4()), timestamp=now_iso())
            if answers:
                body["resp"] = {"requestId": answers}
            path = paths[0]
        expect_status(call("POST", self.base + path, body, headers), 202, f"POST {path}")


def verify_gateway_token(authorization: str | None, keys: list[dict]) -> str | None:
    """Why a callback's `Authorization: Bearer <JWT>` is not a live gateway token, or None:
    RS256 under the JWKS key its `kid` names, `aud` account, not expired."""
    if not authorization or not authorization.startswith("Bearer "):
        return f"Authorization is {authorization!r}"
    try:
        head, payload, signature = authorization[7:].split(".")
        header, claims = json.loads(b64url(head)), json.loads(b64url(payload))
        key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
        if header.get("alg") != "RS256" or key is None:
            return f"token header {header}: not RS256 under a JWKS key"
        n, e = int.from_bytes(b64url(key["n"]), "big"), int.from_bytes(b64url(key["e"]), "big")
        size = (n.bit_length() + 7) // 8
        digest = hashlib.sha256(f"{head}.{payload}".encode()).digest()
        padding = b"\xff" * (size - 3 - len(SHA256_DIGEST_INFO) - len(digest))
        wanted = b"\x00\x01" + padding + b"\x00" + SHA256_DIGEST_INFO + digest
        if pow(int.from_bytes(b64url(signature), "big"), e, n).to_bytes(size, "big") != wanted:
            return "token signature does not verify against the JWKS"
    except (ValueError, KeyError, TypeError, OverflowError) as err:
        return f"token unreadable: {err}"
    aud = claims.get("aud")
    if "account" not in (aud if isinstance(aud, list) else [aud]):
        return f"token aud {aud!r}, expected account"
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
        return f"token expired or without exp ({claims.get('exp')!r})"
    return None


# ---- the sandbox ----------------------------------------------------------------------------


class Sandbox:
    """`BINARY serve` on a free loopback port (with `options` added), its output in a temporary log."""

    def __init__(self, binary: Path, options: tuple[str, ...] = ()) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="abdm-sandbox-hip.", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [str(binary), "serve", "--addr", "127.0.0.1:0", *options], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            for line in Path(self.log.name).read_text(errors="replace").splitlines():
                if "listening on http://127.0.0.1:" in line:
                    self.url = line.split("listening on ", 1)[1].split()[0].rstrip("/")
                    return
            time.sleep(0.1)
        tail = self.tail()
        self.stop()
        raise Failed(f"the sandbox did not print 'listening on http://127.0.0.1:PORT' within 10 s:\n{tail}")

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A call to `/_sandbox{path}`."""
        return call(method, f"{self.url}/_sandbox{path}", body)

    def tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stops the server and removes its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
