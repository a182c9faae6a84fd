#!/usr/bin/env python3
"""Interop check: a HIP written apart from the sandbox (Python standard library, with the
reference fidelius-cli 1.2.0 jar as its Fidelius) goes through consent and health-information
transfer with the sandbox as consent manager and HIU, and the sandbox's judgement of each
transfer is checked.

Usage: interop/hip_dataflow.py [--own-credentials] [BINARY]
  BINARY  the abdm-sandbox executable (default: target/debug/abdm-sandbox, relative to the
          repository root; a relative path is first tried from the caller's directory).
  --own-credentials  the HIP brings credentials of its own, as a team's HIP moving from the live
          sandbox does: client TEAM_HIP_CLIENT with secret own-secret, HIP id TEAM-HIP-01, none of
          them in the fixtures (see below).

The script starts `BINARY serve` on a free loopback port and a HIP bridge (http.server) on
another. The HIP takes a gateway session as SBX_000001 (HIP IN2910000001), registers its bridge,
first as a v0.5 bridge (PATCH /gateway/v1/bridges), later as a v3 one (PATCH
/api/hiecm/gateway/v3/bridge/url), so the sandbox calls it in that version, and has two care
contexts seeded for asha.verma@sbx. With --own-credentials it takes its session as
TEAM_HIP_CLIENT instead, which the default `serve --credentials open` takes, and registers
TEAM-HIP-01 as its HIP service through addUpdateServices (PUT /gateway/v1/bridges/addUpdateServices)
as on the live gateway; every step below then names TEAM-HIP-01. At the end a second server,
`serve --credentials fixtures`, must refuse that client's session with 401 and still give
SBX_000001 one. Then for v0.5 and v3, each with the HIU key raw and X.509:
- a consent is granted; the HIP answers the GRANTED notify with on-notify;
- the sandbox as HIU asks for the data; the HIP answers on-request ACKNOWLEDGED, makes fresh key
  material with the jar (gkm), encrypts one FHIR document bundle per care context with it (se),
  pushes them with their MD5 checksums to the dataPushUrl and sends the transfer notify
  (TRANSFERRED, each DELIVERED);
- the sandbox must report the transfer TRANSFERRED, every entry decrypted with its checksum
  matching, and no problem.
And once, in v3, the leading-zero case: the HIP searches its key pair (curve arithmetic in
interop/fidelius_ref.py) until the shared secret with the HIU key starts with a zero byte, then
seals with that byte dropped (HKDF and AES-GCM from the `cryptography` package, checked against
the jar with the secret intact): the sandbox must report the entry not decrypted with a problem
naming the left-padding. The same case sealed by the jar must decrypt.
Every callback's gateway token is verified against the JWKS (RS256) as a HIP must.

The jar and `cryptography` are installed from PyPI into target/fidelius-interop/venv (shared with
interop/fidelius). Java 17 is needed. Exit status 0 when every check passes, 1 when any fails,
2 when the setup is missing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fidelius_ref import (
    Checks,
    Failed,
    Tool,
    expect,
    find_binary,
    java_version,
    leading_zero_sender,
    pip_install,
    reference_jars,
    reference_tool,
    venv_python,
)
from hip_gateway import Gateway, Sandbox, call, expect_status, now_iso, verify_gateway_token

PROG = "interop/hip_dataflow.py"
CRYPTOGRAPHY = "cryptography==44.0.2"


@dataclass(frozen=True)
class Identity:
    """Who the HIP is at the gateway: its client's id and secret, and the HIP id it serves."""

    client_id: str
    client_secret: str
    hip_id: str
    # Whether the HIP id is registered through addUpdateServices (a fixture facility's HIP id
    # belongs to its client already).
    registers: bool


# A fixture facility's client and HIP (GET /_sandbox/fixtures), and a team's own, unknown to the
# fixtures.
FIXTURE = Identity("SBX_000001", "sandbox-secret-0001", "IN2910000001", registers=False)
OWN = Identity("TEAM_HIP_CLIENT", "own-secret", "TEAM-HIP-01", registers=True)
PATIENT = "asha.verma@sbx"
WAIT = 30.0

# The HIP's records: one care context per HI type, each a FHIR document whose Composition's
# SNOMED CT code names the type.
RECORDS = {
    "OP-1": ("OPConsultation", "371530004", "Clinical consultation report", "OPD visit 2024"),
    "RX-1": ("Prescription", "440545006", "Prescription record", "Prescription 2025"),
}

# Gateway paths (v0.5, v3) of the HIP's answers, and of the gateway's calls to the bridge.
ON_NOTIFY = ("/gateway/v0.5/consents/hip/on-notify", "/api/hiecm/consent/v3/request/hip/on-notify")
ON_REQUEST = (
    "/gateway/v0.5/health-information/hip/on-request",
    "/api/hiecm/data-flow/v3/health-information/hip/on-request",
)
NOTIFY = ("/gateway/v0.5/health-information/notify", "/api/hiecm/data-flow/v3/health-information/notify")
CONSENT_NOTIFY = ("/v0.5/consents/hip/notify", "/api/v3/consent/request/hip/notify")
HI_REQUEST = ("/v0.5/health-information/hip/request", "/api/v3/hip/health-information/request")

# Seals a text with a given shared secret: (secret, sender nonce, requester nonce, text) -> base64.
Seal = Callable[[bytes, str, str, str], str]

# ---- the HIP --------------------------------------------------------------------------------


@dataclass
class Received:
    """A call the gateway made to the HIP's bridge."""

    path: str
    version: str
    request_id: str
    body: dict
    token_problem: str | None


@dataclass
class Transfer:
    """What the HIP did with one HI request."""

    version: str
    consent_id: str
    hiu_key: str
    hiu_nonce: str
    push_url: str
    hip_keys: dict = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    shared_x: bytes | None = None
    error: str | None = None


def bundle(care_context: str) -> str:
    """The FHIR document bundle of one care context: a Composition first, then the Patient."""
    hi_type, code, display, title = RECORDS[care_context]
    patient = f"urn:uuid:{uuid.uuid4()}"
    document = {
        "resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "document", "timestamp": now_iso(),
        "identifier": {"system": "https://hip.example/bundles", "value": str(uuid.uuid4())},
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
                "resourceType": "Composition", "status": "final", "date": now_iso(), "title": title,
                "type": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
                "subject": {"reference": patient}, "author": [{"display": "Dr. Meera Iyer"}],
                "section": [{"title": hi_type, "entry": [{"reference": patient}]}]}},
            {"fullUrl": patient, "resource": {
                "resourceType": "Patient", "name": [{"text": "Asha Verma (आशा वर्मा)"}],
                "gender": "female"}},
        ],
    }
    return json.dumps(document, ensure_ascii=False)


class Hip:
    """The HIP: a bridge whose handler answers 202 and queues each call, and a worker thread that
    acts on them. `modes` chooses, per consent, how its transfers are sealed: `jar` (fresh jar
    key material), `leading-zero` (a key pair whose secret starts with a zero byte, sealed by the
    jar) or `unpadded` (that pair, sealed with the zero byte dropped)."""

    def __init__(self, gateway: Gateway, jar: Tool, seal: Seal, jwks: list[dict], hip_id: str) -> None:
        self.gateway, self.jar, self.seal, self.jwks, self.hip_id = gateway, jar, seal, jwks, hip_id
        self.received: list[Received] = []
        self.artefacts: dict[str, dict] = {}
        self.acks: dict[str, str | None] = {}
        self.transfers: dict[str, Transfer] = {}
        self.modes: dict[str, str] = {}
        self.unexpected: list[str] = []
        self.done = threading.Condition()
        self.inbox: queue.Queue[Received | None] = queue.Queue()
        hip = self

        class Bridge(http.server.BaseHTTPRequestHandler):
            """The bridge URL: every POST is answered 202 at once, then queued for the worker."""

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                hip.receive(self.path, self.headers, raw)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self.work, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        """Stops the worker and the bridge."""
        self.inbox.put(None)
        self.server.shutdown()
        self.server.server_close()

    def receive(self, path: str, headers, raw: bytes) -> None:
        """Records a call with its version, request id and token verdict, and queues it."""
        version = "v3" if path.startswith("/api/v3/") else "v0.5"
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = {}
        body = body if isinstance(body, dict) else {}
        request_id = headers.get("REQUEST-ID", "") if version == "v3" else str(body.get("requestId", ""))
        problem = verify_gateway_token(headers.get("Authorization"), self.jwks)
        if problem is None and headers.get("X-HIP-ID") != self.hip_id:
            problem = f"X-HIP-ID is {headers.get('X-HIP-ID')!r}"
        message = Received(path, version, request_id, body, problem)
        with self.done:
            self.received.append(message)
        self.inbox.put(message)

    def work(self) -> None:
        """The worker: acts on each queued call in turn, until stopped."""
        while (message := self.inbox.get()) is not None:
            try:
                if message.path in CONSENT_NOTIFY:
                    self.on_consent(message)
                elif message.path in HI_REQUEST:
                    self.on_hi_request(message)
                else:
                    raise Failed("a call the HIP does not expect")
            # Whatever goes wrong with one call is reported, and the worker goes on to the next.
            except Exception as e:  # noqa: BLE001
                with self.done:
                    self.unexpected.append(f"{message.path}: {e!r}")

    def wait(self, table: dict, key: str, what: str) -> Any:
        """The entry `key` of `table` once the worker has filed it."""
        with self.done:
            if not self.done.wait_for(lambda: key in table, timeout=WAIT):
                raise Failed(f"the HIP did not finish {what} {key} within {WAIT:.0f} s")
            return table[key]

    def on_consent(self, m: Received) -> None:
        """Keeps a GRANTED artefact and acknowledges the notify (on-notify, status OK)."""
        notification = m.body.get("notification") or {}
        consent_id = str(notification.get("consentId"))
        problem = None
        try:
            if notification.get("status") == "GRANTED":
                self.artefacts[consent_id] = notification["consentDetail"]
            ack = {"acknowledgement": {"status": "OK", "consentId": consent_id}}
            self.gateway.send(m.version, ON_NOTIFY, ack, answers=m.request_id)
        except (Failed, KeyError, TypeError) as e:
            problem = f"consent notify: {e!r}"
        with self.done:
            self.acks[consent_id] = problem
            self.done.notify_all()

    def on_hi_request(self, m: Received) -> None:
        """Acknowledges the HI request (on-request ACKNOWLEDGED), then carries out the transfer."""
        txn = str(m.body.get("transactionId"))
        hi = m.body.get("hiRequest") or {}
        key_material = hi.get("keyMaterial") or {}
        t = Transfer(
            m.version, str((hi.get("consent") or {}).get("id")),
            str((key_material.get("dhPublicKey") or {}).get("keyValue")), str(key_material.get("nonce")),
            str(hi.get("dataPushUrl")),
        )
        try:
            ack = {"hiRequest": {"transactionId": txn, "sessionStatus": "ACKNOWLEDGED"}}
            self.gateway.send(m.version, ON_REQUEST, ack, answers=m.request_id)
            self.transfer(txn, t)
        except (Failed, subprocess.SubprocessError, ValueError, KeyError, TypeError) as e:
            t.error = f"HI request: {e}"
        with self.done:
            self.transfers[txn] = t
            self.done.notify_all()

    def transfer(self, txn: str, t: Transfer) -> None:
        """Seals the records the consent covers, pushes them and notifies the gateway."""
        artefact = self.artefacts.get(t.consent_id)
        expect(artefact is not None, f"no GRANTED notify came for consent {t.consent_id}")
        covered = [c["careContextReference"] for c in artefact["careContexts"]]
        refs = [r for r in covered if r in RECORDS and RECORDS[r][0] in artefact["hiTypes"]]
        mode = self.modes.get(t.consent_id, "jar")
        # The HIP answers in the key form it was given: X.509 for X.509, raw for raw.
        x509 = len(t.hiu_key) > 88
        if mode == "jar":
            t.hip_keys = self.jar.keygen()
        else:
            # The X.509 form of a searched key: the reference jar's encoding of the curve (the
            # DER before the 65-byte point) with the point appended.
            prefix = base64.b64decode(self.jar.keygen()["x509PublicKey"])[:-65] if x509 else b""
            t.hip_keys, t.shared_x = leading_zero_sender(t.hiu_key, prefix)
        keys = t.hip_keys
        for ref in refs:
            text = bundle(ref)
            if mode == "unpadded":
                sealed = self.seal(t.shared_x.lstrip(b"\0"), keys["nonce"], t.hiu_nonce, text)
            else:
                sealed = self.jar.encrypt(text, keys["nonce"], t.hiu_nonce, keys["privateKey"], t.hiu_key)
            t.texts.append(text)
            t.contents.append(sealed)
        entries = [
            {"content": content, "media": "application/fhir+json", "careContextReference": ref,
             "checksum": hashlib.md5(text.encode("utf-8")).hexdigest()}
            for ref, text, content in zip(refs, t.texts, t.contents)
        ]
        page = {
            "pageNumber": 1, "pageCount": 1, "transactionId": txn, "entries": entries,
            "keyMaterial": {
                "cryptoAlg": "ECDH", "curve": "Curve25519", "nonce": keys["nonce"],
                "dhPublicKey": {"expiry": now_iso(after=86_400), "parameters": "Curve25519/32byte random key",
                                "keyValue": keys["x509PublicKey" if x509 else "publicKey"]},
            },
        }
        expect_status(call("POST", t.push_url, page), 202, f"push to {t.push_url}")
        statuses = [{"careContextReference": r, "hiStatus": "DELIVERED", "description": "Delivered"} for r in refs]
        notification = {
            "consentId": t.consent_id, "transactionId": txn, "doneAt": now_iso(),
            "notifier": {"type": "HIP", "id": self.hip_id},
            "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": self.hip_id, "statusResponses": statuses},
        }
        self.gateway.send(t.version, NOTIFY, {"notification": notification})


# ---- the checks -----------------------------------------------------------------------------


class Driver:
    """Plays the patient and the HIU through the sandbox's control API, and reads its verdicts."""

    def __init__(self, sandbox: Sandbox, hip: Hip, checks: Checks) -> None:
        self.sandbox, self.hip, self.checks = sandbox, hip, checks

    def grant(self, version: str, body: dict) -> str:
        """Grants a consent, waits for the HIP's on-notify; the sandbox must have matched it."""
        grant = {"hipId": self.hip.hip_id, "abhaAddress": PATIENT, **body}
        consent_id = self.control("POST", "/consents", grant, 202)["consentId"]
        problem = self.hip.wait(self.hip.acks, consent_id, "the consent notify of")
        expect(problem is None, problem or "")
        with self.hip.done:
            notify = next(
                (m for m in self.hip.received if (m.body.get("notification") or {}).get("consentId") == consent_id),
                None,
            )
        expect(notify is not None, f"no notify for consent {consent_id} reached the HIP")
        expect(notify.path == CONSENT_NOTIFY[version == "v3"], f"the notify came to {notify.path}")
        out = self.control("GET", f"/consents/{consent_id}")
        expect(out["version"] == version, f"consent version {out['version']}")
        first = out["notifies"][0]
        expect(first.get("matched") is True and first["problems"] == [], f"on-notify judged {first}")
        return consent_id

    def request(self, consent_id: str, key_format: str) -> tuple[str, Transfer]:
        """The sandbox asks for the data; returns the transaction and what the HIP did."""
        body = {"consentId": consent_id, "keyFormat": key_format}
        txn = self.control("POST", "/health-information/requests", body, 202)["transactionId"]
        t = self.hip.wait(self.hip.transfers, txn, "the HI request")
        expect(t.error is None, t.error or "")
        expect(len(t.hiu_key) == (412 if key_format == "x509" else 88), f"HIU key of {len(t.hiu_key)} characters")
        expect(t.push_url == f"{self.sandbox.url}/_sandbox/data-push/{txn}", f"dataPushUrl {t.push_url}")
        return txn, t

    def control(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """A call to the sandbox's control API, which must answer `status`."""
        return expect_status(self.sandbox.control(method, path, body), status, f"{method} /_sandbox{path}")

    def outcome(self, txn: str) -> dict:
        """The sandbox's verdict on a transfer."""
        return self.control("GET", f"/health-information/requests/{txn}")

    def judged_clean(self, txn: str, t: Transfer) -> None:
        """Every entry decrypted, its checksum matching and its content what the HIP sealed; the
        transfer TRANSFERRED with no problem."""
        out = self.outcome(txn)
        summary = json.dumps({k: out.get(k) for k in ("status", "problems", "entries")})[:900]
        expect(out["status"] == "TRANSFERRED", f"status {out['status']}: {summary}")
        expect(out["problems"] == [], f"problems: {summary}")
        expect(out["onRequest"]["matched"] and out["notify"]["matched"] and out["withinDeadline"], summary)
        expect(len(out["entries"]) == len(t.texts) > 0, f"{len(out['entries'])} entries for {len(t.texts)} pushed")
        for i, (entry, text) in enumerate(zip(out["entries"], t.texts)):
            expect(entry["decrypted"] is True and entry["checksumMatches"] is True, f"entries[{i}]: {entry}")
            expect(entry["checksumForm"] == "md5-hex" and entry["bundleType"] == "document", f"entries[{i}]: {entry}")
            expect(entry["hiType"] == RECORDS[entry["careContextReference"]][0], f"entries[{i}]: {entry}")
            content = self.control("GET", f"/health-information/requests/{txn}/entries/{i}")
            expect(content == json.loads(text), f"entries[{i}] decrypted to something else than was sealed")

    def both_formats(self, version: str) -> None:
        """The whole flow with the HIU key raw and X.509."""
        for key_format in ("raw", "x509"):
            label = f"{version} {key_format}"
            state: dict[str, Any] = {}

            def consent(state=state) -> None:
                state["consent"] = self.grant(version, {"hiTypes": ["OPConsultation", "Prescription"]})

            def transfer(state=state, key_format=key_format) -> None:
                txn, t = self.request(state["consent"], key_format)
                self.judged_clean(txn, t)

            self.checks.run(f"{label}: the HIP gets the {version} consent notify; its on-notify is matched", consent)
            if "consent" in state:
                self.checks.run(
                    f"{label}: the HIP's jar-sealed push of {len(RECORDS)} bundles is decrypted with every check passing",
                    transfer,
                )

    def leading_zero(self, seal: Seal, jar: Tool) -> None:
        """A secret starting with a zero byte: dropped, the sandbox names the padding; kept, it decrypts."""
        state: dict[str, Any] = {}

        def consent() -> None:
            state["consent"] = self.grant("v3", {"hiTypes": ["OPConsultation"], "careContexts": ["OP-1"]})

        def unpadded() -> None:
            self.hip.modes[state["consent"]] = "unpadded"
            txn, t = self.request(state["consent"], "raw")
            state["unpadded"] = t
            expect(t.shared_x is not None and t.shared_x[0] == 0, "the HIP's shared secret has no leading zero")
            out = self.outcome(txn)
            entry = out["entries"][0]
            expect(entry["decrypted"] is False, f"decrypted although unpadded: {entry}")
            expect("left-padded" in (entry.get("problem") or ""), f"the problem does not name the padding: {entry}")
            expect(any("left-padded" in p for p in out["problems"]), f"problems: {out['problems']}")
            expect(out["notify"]["matched"] is False, "a DELIVERED for an entry that did not decrypt went unfaulted")

        def same_but_padded() -> None:
            t = state["unpadded"]
            keys = t.hip_keys
            padded = seal(t.shared_x, keys["nonce"], t.hiu_nonce, t.texts[0])
            by_jar = jar.encrypt(t.texts[0], keys["nonce"], t.hiu_nonce, keys["privateKey"], t.hiu_key)
            expect(padded == by_jar, "the HIP's own HKDF/AES-GCM with the whole secret differs from the jar")
            expect(t.contents[0] != by_jar, "the unpadded push equals the jar's padded one")

        def padded() -> None:
            self.hip.modes[state["consent"]] = "leading-zero"
            txn, t = self.request(state["consent"], "x509")
            expect(t.shared_x is not None and t.shared_x[0] == 0, "the HIP's shared secret has no leading zero")
            self.judged_clean(txn, t)

        self.checks.run("v3 leading zero: the HIP gets the consent notify; its on-notify is matched", consent)
        if "consent" not in state:
            return
        self.checks.run(
            "v3 leading zero, secret not left-padded: the entry is not decrypted, the problem names the padding",
            unpadded,
        )
        if "unpadded" in state:
            self.checks.run(
                "v3 leading zero: the HIP's sealing with the whole secret equals the jar's, so only the padding differs",
                same_but_padded,
            )
        self.checks.run("v3 leading zero, sealed by the jar: decrypted with every check passing", padded)

    def callbacks_authentic(self) -> None:
        """Every gateway call to the HIP was one it expects, with a valid token and X-HIP-ID."""
        with self.hip.done:
            received, unexpected = list(self.hip.received), list(self.hip.unexpected)
        expect(not unexpected, f"calls the HIP could not handle: {unexpected}")
        bad = [f"{m.path}: {m.token_problem}" for m in received if m.token_problem]
        expect(not bad, "; ".join(bad[:3]))
        expect(len(received) >= 10, f"only {len(received)} calls reached the HIP")


def run(checks: Checks, sandbox: Sandbox, jar: Tool, seal: Seal, me: Identity) -> None:
    """The HIP's set-up, then the four transfers, the leading-zero case and the token check."""
    gateway = Gateway(sandbox.url)
    jwks = expect_status(call("GET", f"{sandbox.url}/gateway/v0.5/certs"), 200, "JWKS")["keys"]
    hip = Hip(gateway, jar, seal, jwks, me.hip_id)
    try:
        def setup() -> None:
            gateway.session(me.client_id, me.client_secret)
            gateway.register_bridge(hip.url, "v0.5")
            if me.registers:
                # The HIP id becomes this client's; the gateway lists it among the client's services.
                gateway.add_services([{"id": me.hip_id, "name": "Team HIP", "type": "HIP", "active": True}])
                path = f"{sandbox.url}/gateway/v1/bridges/getServices"
                listed = expect_status(call("GET", path, headers={"Authorization": f"Bearer {gateway.token}"}),
                                       200, "GET getServices")
                ids = [s.get("id") for s in listed.get("services", [])]
                expect(ids == [me.hip_id], f"getServices lists {ids}, expected [{me.hip_id}]")
            seed = {"hipId": me.hip_id, "abhaAddress": PATIENT, "patientReference": "MR-1",
                    "careContexts": [{"referenceNumber": r, "display": v[3]} for r, v in RECORDS.items()]}
            expect_status(sandbox.control("POST", "/care-contexts", seed), 200, "seed care contexts")

        before = checks.passed
        registers = f" and its HIP {me.hip_id} (addUpdateServices)" if me.registers else ""
        checks.run(
            f"the HIP takes a session as {me.client_id}, registers a v0.5 bridge{registers}, has its care contexts seeded",
            setup,
        )
        if checks.passed == before:
            return
        driver = Driver(sandbox, hip, checks)
        driver.both_formats("v0.5")
        before = checks.passed
        checks.run("the HIP registers its bridge in v3", lambda: gateway.register_bridge(hip.url, "v3"))
        if checks.passed == before:
            return
        driver.both_formats("v3")
        driver.leading_zero(seal, jar)
        checks.run(
            "every call to the HIP carried a gateway token that verifies against the JWKS, and X-HIP-ID",
            driver.callbacks_authentic,
        )
    finally:
        hip.stop()


def refused_under_fixtures(checks: Checks, binary: Path, me: Identity) -> None:
    """A second server, `serve --credentials fixtures`: the HIP's own client gets 401 for its
    session, a fixture facility's client still gets one."""
    try:
        strict = Sandbox(binary, ("--credentials", "fixtures"))
    except Failed as e:
        checks.failures.append(f"serve --credentials fixtures: {e}")
        return
    try:
        def refused() -> None:
            body = {"clientId": me.client_id, "clientSecret": me.client_secret}
            reply = call("POST", f"{strict.url}/gateway/v0.5/sessions", body)
            refusal = expect_status(reply, 401, f"session as {me.client_id}")
            expect("unknown clientId" in json.dumps(refusal), f"the 401 does not say why: {refusal}")

        checks.run(f"serve --credentials fixtures: a session as {me.client_id} is refused with 401", refused)
        checks.run(
            f"serve --credentials fixtures: a session as the fixtures' {FIXTURE.client_id} is taken",
            lambda: Gateway(strict.url).session(FIXTURE.client_id, FIXTURE.client_secret),
        )
    finally:
        strict.stop()


def sealer(python: Path, script: Path) -> Seal:
    """Seals with a given shared secret, by interop/fidelius_seal.py in the virtualenv."""

    def seal(secret: bytes, sender_nonce: str, requester_nonce: str, text: str) -> str:
        job = {"secret": secret.hex(), "senderNonce": sender_nonce, "requesterNonce": requester_nonce,
               "plaintext": text}
        out = subprocess.run([python, script], input=json.dumps(job), capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise Failed(f"fidelius_seal.py: {out.stderr.strip()[:300]}")
        return json.loads(out.stdout)["encryptedData"]

    return seal


def main() -> int:
    """Installs what is missing, starts the sandbox, runs the checks; the exit status."""
    started = time.monotonic()
    parser = argparse.ArgumentParser(prog=PROG, description="An independent HIP against the sandbox.")
    parser.add_argument("--own-credentials", action="store_true",
                        help=f"client {OWN.client_id}, HIP {OWN.hip_id}: not in the fixtures")
    parser.add_argument("binary", nargs="?", help="the abdm-sandbox executable (default target/debug/abdm-sandbox)")
    args = parser.parse_args()
    me = OWN if args.own_credentials else FIXTURE
    # find_binary reads the executable from the first argument.
    sys.argv[1:] = [args.binary] if args.binary else []
    repo_root = Path(__file__).resolve().parent.parent
    binary = find_binary(PROG, repo_root, Path.cwd())
    version = java_version()
    if version is None:
        print(f"{PROG}: java not found; install a JRE 17 (Debian: openjdk-17-jre-headless)", file=sys.stderr)
        return 2
    jar = reference_tool(reference_jars(repo_root, PROG))
    python = venv_python(repo_root, PROG)
    wanted = CRYPTOGRAPHY.split("==")[1]
    probe = "import cryptography; print(cryptography.__version__)"
    have = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if have.stdout.strip() != wanted:
        pip_install(python, PROG, CRYPTOGRAPHY, deps=True)
    seal = sealer(python, repo_root / "interop" / "fidelius_seal.py")
    print(f"{PROG}: a Python HIP with {jar.name} 1.2.0 ({version}) against {binary}", flush=True)
    print(f"{PROG}: client {me.client_id}, HIP {me.hip_id} ({'its own' if me.registers else 'the fixtures'})", flush=True)
    checks = Checks()
    try:
        sandbox = Sandbox(binary)
    except Failed as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    try:
        run(checks, sandbox, jar, seal, me)
    except Failed as e:
        checks.failures.append(str(e))
    finally:
        if checks.failures:
            print(f"{PROG}: last lines of the sandbox's log:\n{sandbox.tail()}")
        sandbox.stop()
    if me.registers:
        refused_under_fixtures(checks, binary, me)
    print(f"{PROG}: done in {time.monotonic() - started:.0f} s")
    return checks.summary("hip data-flow interop")


if __name__ == "__main__":
    sys.exit(main())
