#!/usr/bin/env python3
"""Interop check: an HIU written apart from the sandbox (Python standard library, with the
reference fidelius-cli 1.2.0 jar as its Fidelius) asks for consent, fetches the artefacts,
requests the data with its own keys and decrypts what the sandbox pushes as each HIP.

Usage: interop/hiu_dataflow.py [BINARY]
  BINARY  the abdm-sandbox executable (default: target/debug/abdm-sandbox, relative to the
          repository root; a relative path is first tried from the caller's directory).

The script starts `BINARY serve` on a free loopback port and an HIU bridge (http.server) on
another, which is also its dataPushUrl. The HIU takes a gateway session as SBX_000003 (HIU
IN2710000003) and registers its bridge, as a v0.5 bridge and later as a v3 one. Then in each
version:
- it asks for asha.verma@sbx's consent (every HI type since 2015); the scripted patient grants:
  one GRANTED notify with two artefacts (one per HIP holding her records), each acknowledged;
- it fetches both artefacts and checks them (HIP, care contexts, date range narrowed);
- for each artefact it requests the data twice, with a raw key and with an X.509 key made by the
  jar (gkm), receives the pages at its dataPushUrl, decrypts every entry with the jar (d),
  checks the MD5 checksum and that the bundle is byte for byte the shipped record
  (fixtures/records/), notifies TRANSFERRED with OK per care context, and the sandbox must
  report its notify matching (hiuReport.matches);
- ravi.kumar@sbx's request ends DENIED with no artefact; the consent manager refuses an unknown
  patient (1414), a bad purpose (1420) and an unknown HI type (1419) with their codes.
Once more with the sandbox's `corrupt` fault on the push path: the one entry that does not
decrypt is reported ERRORED, the others OK, and the sandbox must find that honest. (The jar
answers a GCM tag mismatch with an empty `decryptedData` instead of an error, so the HIU tells a
corrupted entry by its MD5 checksum.)
Every callback's gateway token is verified against the JWKS (RS256).

The jar is installed from PyPI into target/fidelius-interop/venv (shared with interop/fidelius).
Java 17 is needed. Exit status 0 when every check passes, 1 when any fails, 2 when the setup is
missing.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fidelius_ref import Checks, Failed, Tool, expect, find_binary, java_version, reference_jars, reference_tool
from hip_gateway import Gateway, Sandbox, call, expect_status, now_iso, verify_gateway_token

PROG = "interop/hiu_dataflow.py"
CLIENT_ID, CLIENT_SECRET, HIU_ID = "SBX_000003", "sandbox-secret-0003", "IN2710000003"
WAIT = 30.0
REPO = Path(__file__).resolve().parent.parent
HI_TYPES = ["OPConsultation", "Prescription", "DiagnosticReport", "DischargeSummary", "ImmunizationRecord"]

INIT = ("/gateway/v0.5/consent-requests/init", "/api/hiecm/consent/v3/request/init")
ON_NOTIFY = ("/gateway/v0.5/consents/hiu/on-notify", "/api/hiecm/consent/v3/request/hiu/on-notify")
FETCH = ("/gateway/v0.5/consents/fetch", "/api/hiecm/consent/v3/fetch")
REQUEST = ("/gateway/v0.5/health-information/cm/request", "/api/hiecm/data-flow/v3/health-information/request")
NOTIFY = ("/gateway/v0.5/health-information/notify", "/api/hiecm/data-flow/v3/health-information/notify")
ON_INIT = ("/v0.5/consent-requests/on-init", "/api/v3/hiu/consent/request/on-init")
CONSENT_NOTIFY = ("/v0.5/consents/hiu/notify", "/api/v3/hiu/consent/request/notify")
ON_FETCH = ("/v0.5/consents/on-fetch", "/api/v3/hiu/consent/on-fetch")
ON_REQUEST = ("/v0.5/health-information/hiu/on-request", "/api/v3/hiu/health-information/on-request")


class Hiu:
    """The HIU's bridge and dataPushUrl: every POST is recorded (with its token verdict) and
    answered 202."""

    def __init__(self, jwks: list[dict]) -> None:
        self.jwks = jwks
        self.received: list[tuple[str, dict, str | None, dict]] = []
        self.cond = threading.Condition()
        hiu = self

        class Bridge(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                problem = verify_gateway_token(self.headers.get("Authorization"), hiu.jwks)
                if problem is None and self.headers.get("X-HIU-ID") != HIU_ID:
                    problem = f"X-HIU-ID is {self.headers.get('X-HIU-ID')!r}"
                with hiu.cond:
                    hiu.received.append((self.path, body if isinstance(body, dict) else {}, problem, {k.lower(): v for k, v in self.headers.items()}))
                    hiu.cond.notify_all()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, path: str, pick, what: str, count: int = 1) -> list[dict]:
        """The first `count` bodies received on `path` that `pick` accepts; each token must verify."""
        def found() -> list:
            return [r for r in self.received if r[0] == path and pick(r[1])]
        with self.cond:
            if not self.cond.wait_for(lambda: len(found()) >= count, timeout=WAIT):
                raise Failed(f"{what}: {len(found())} of {count} calls on {path} within {WAIT:.0f} s")
            got = found()[:count]
        for _, _, problem, _ in got:
            expect(problem is None, f"{what}: {problem}")
        return [body for _, body, _, _ in got]


def consent_body(patient: str, hi_types: list[str]) -> dict:
    return {"consent": {
        "purpose": {"text": "Care Management", "code": "CAREMGT", "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse"},
        "patient": {"id": patient}, "hiu": {"id": HIU_ID, "name": "Sandbox Diagnostics"},
        "requester": {"name": "Dr. Lakshmi Rao", "identifier": {"type": "REGNO", "value": "MH1001", "system": "https://www.mciindia.org"}},
        "hiTypes": hi_types,
        "permission": {"accessMode": "VIEW", "dateRange": {"from": "2015-01-01T00:00:00.000Z", "to": now_iso()},
                       "dataEraseAt": now_iso(after=30 * 86_400), "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}},
    }}


class Run:
    """The HIU's journey in one version."""

    def __init__(self, sandbox: Sandbox, gateway: Gateway, hiu: Hiu, jar: Tool, checks: Checks) -> None:
        self.sandbox, self.gateway, self.hiu, self.jar, self.checks = sandbox, gateway, hiu, jar, checks

    def send(self, version: str, paths: tuple[str, str], body: dict, answers: str | None = None) -> None:
        self.gateway.send(version, paths, body, answers)

    def refused(self, version: str, body: dict, status: int, code: Any, what: str) -> None:
        """A consent request the consent manager must refuse with this status and code."""
        if version == "v3":
            headers, path = {**self.gateway.v3_headers(), "X-HIU-ID": HIU_ID}, INIT[1]
        else:
            headers = {"Authorization": f"Bearer {self.gateway.token}", "X-CM-ID": "sbx"}
            body = {**body, "requestId": str(uuid.uuid4()), "timestamp": now_iso()}
            path = INIT[0]
        got, reply = call("POST", self.gateway.base + path, body, headers)
        error = (reply or {}).get("error") or {} if isinstance(reply, dict) else {}
        expect(got == status and error.get("code") == code, f"{what}: HTTP {got} {reply}, expected {status} with code {code!r}")

    def init(self, version: str, patient: str) -> str:
        """Asks for consent; returns the consent request id from on-init."""
        v = version == "v3"
        before = len([r for r in self.hiu.received if r[0] == ON_INIT[v]])
        self.send(version, INIT, consent_body(patient, HI_TYPES))
        bodies = self.hiu.wait(ON_INIT[v], lambda b: True, "on-init", count=before + 1)
        last = bodies[-1]
        expect(last.get("error") is None, f"on-init error {last.get('error')}")
        return last["consentRequest"]["id"]

    def notified(self, version: str, request: str, status: str) -> tuple[dict, list[str]]:
        """The consent notify of `request` with `status`, acknowledged per artefact."""
        v = version == "v3"
        pick = lambda b: (b.get("notification") or {}).get("consentRequestId") == request and b["notification"].get("status") == status  # noqa: E731
        n = self.hiu.wait(CONSENT_NOTIFY[v], pick, f"{status} notify")[0]
        answers = n["requestId"] if not v else None
        if v:
            with self.hiu.cond:
                answers = next(h.get("request-id") for p, b, _, h in self.hiu.received if b is n)
        ids = [a["id"] for a in n["notification"].get("consentArtefacts") or []]
        self.send(version, ON_NOTIFY, {"acknowledgement": [{"status": "OK", "consentId": i} for i in ids]}, answers)
        return n, ids

    def fetch(self, version: str, consent: str) -> dict:
        v = version == "v3"
        self.send(version, FETCH, {"consentId": consent})
        pick = lambda b: ((b.get("consent") or {}).get("consentDetail") or {}).get("consentId") == consent  # noqa: E731
        return self.hiu.wait(ON_FETCH[v], pick, "on-fetch")[0]["consent"]

    def transfer(self, version: str, artefact: dict, x509: bool, label: str, corrupted: bool = False) -> None:
        """Requests the artefact's data with a fresh jar key, decrypts every pushed entry, notifies."""
        v = version == "v3"
        detail = artefact["consentDetail"]
        keys = self.jar.keygen()
        push = f"/push/{label}"
        hi = {"consent": {"id": detail["consentId"]}, "dataPushUrl": self.hiu.url + push,
              "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519", "nonce": keys["nonce"],
                              "dhPublicKey": {"expiry": now_iso(after=86_400), "parameters": "Curve25519/32byte random key",
                                              "keyValue": keys["x509PublicKey" if x509 else "publicKey"]}}}
        self.send(version, REQUEST, {"hiRequest": hi})
        first = self.hiu.wait(push, lambda b: True, "first page")[0]
        txn = first["transactionId"]
        pick = lambda b: (b.get("hiRequest") or {}).get("transactionId") == txn  # noqa: E731
        on_request = self.hiu.wait(ON_REQUEST[v], pick, "on-request")[0]
        expect(on_request["hiRequest"]["sessionStatus"] == "REQUESTED", f"on-request {on_request}")
        pages = self.hiu.wait(push, lambda b: b.get("transactionId") == txn, "pages", count=first["pageCount"])
        statuses, failed = [], 0
        for page in pages:
            km = page["keyMaterial"]
            hip_key = km["dhPublicKey"]["keyValue"]
            expect(len(hip_key) == (412 if x509 else 88), f"the HIP's key has {len(hip_key)} characters")
            for e in page["entries"]:
                cc = e["careContextReference"]
                # fidelius-cli answers a tag mismatch with an empty decryptedData rather than an
                # error: the MD5 checksum is what tells a corrupted entry.
                text = self.jar.decrypt(e["content"], keys["nonce"], km["nonce"], keys["privateKey"], hip_key)
                if hashlib.md5(text.encode("utf-8")).hexdigest() != e["checksum"]:
                    failed += 1
                    statuses.append({"careContextReference": cc, "hiStatus": "ERRORED", "description": "checksum mismatch"})
                    continue
                shipped = (REPO / "fixtures" / "records" / f"{cc.lower()}.json").read_text(encoding="utf-8")
                expect(text == shipped, f"{cc}: the decrypted bundle differs from the shipped record")
                bundle = json.loads(text)
                expect(bundle["type"] == "document" and bundle["entry"][0]["resource"]["resourceType"] == "Composition",
                       f"{cc}: not a FHIR document with a Composition first")
                statuses.append({"careContextReference": cc, "hiStatus": "OK", "description": "decrypted"})
        expect(failed == (1 if corrupted else 0), f"{failed} entries did not decrypt")
        notification = {"consentId": detail["consentId"], "transactionId": txn, "doneAt": now_iso(),
                        "notifier": {"type": "HIU", "id": HIU_ID},
                        "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": detail["hip"]["id"], "statusResponses": statuses}}
        self.send(version, NOTIFY, {"notification": notification})
        out = expect_status(self.sandbox.control("GET", f"/health-information/requests/{txn}"), 200, "the outcome")
        report = out.get("hiuReport") or {}
        expect(report.get("matches") is True, f"hiuReport {report}")
        expect(out["keyFormat"] == ("x509" if x509 else "raw"), f"keyFormat {out['keyFormat']}")

    def journey(self, version: str) -> None:
        state: dict[str, Any] = {}

        def granted() -> None:
            request = self.init(version, "asha.verma@sbx")
            _, ids = self.notified(version, request, "GRANTED")
            expect(len(ids) == 2, f"{len(ids)} artefacts, expected one per HIP (2)")
            artefacts = sorted((self.fetch(version, i) for i in ids), key=lambda a: a["consentDetail"]["hip"]["id"])
            hospital = artefacts[0]["consentDetail"]
            expect(hospital["hip"]["id"] == "IN0910000002" and len(hospital["careContexts"]) == 3, f"{hospital}")
            expect(hospital["permission"]["dateRange"]["from"].startswith("2019-11-02"), "the range is narrowed to the records")
            expect(all(a["status"] == "GRANTED" and a["signature"] for a in artefacts), "status and signature")
            state["artefacts"] = artefacts

        self.checks.run(f"{version}: the granting patient's request yields two artefacts, fetched", granted)
        for i, artefact in enumerate(state.get("artefacts", [])):
            for x509 in (False, True):
                form = "X.509" if x509 else "raw"
                label = f"{version}-{i}-{form}".replace(".", "")
                self.checks.run(
                    f"{version}: {artefact['consentDetail']['hip']['id']} with a {form} key: every entry decrypts byte for byte; the notify matches",
                    lambda a=artefact, x=x509, lab=label: self.transfer(version, a, x, lab),
                )

        def denied() -> None:
            request = self.init(version, "ravi.kumar@sbx")
            _, ids = self.notified(version, request, "DENIED")
            expect(ids == [], f"a DENIED notify with artefacts {ids}")

        self.checks.run(f"{version}: the denying patient's request ends DENIED with no artefact", denied)
        codes = {"v0.5": (1414, 1420, 1419), "v3": ("ABDM-1014", "ABDM-9999", "ABDM-9999")}[version]

        def refusals() -> None:
            body = consent_body("nobody@sbx", HI_TYPES)
            self.refused(version, body, 400, codes[0], "an unknown patient")
            body = consent_body("asha.verma@sbx", HI_TYPES)
            body["consent"]["purpose"]["code"] = "SHOPPING"
            self.refused(version, body, 400, codes[1], "a purpose off the list")
            self.refused(version, consent_body("asha.verma@sbx", ["XRay"]), 400, codes[2], "an unknown HI type")

        self.checks.run(f"{version}: refusals carry their codes ({codes})", refusals)


def main() -> int:
    started = time.monotonic()
    binary = find_binary(PROG, REPO, Path.cwd())
    version = java_version()
    if version is None:
        print(f"{PROG}: java not found; install a JRE 17 (Debian: openjdk-17-jre-headless)", file=sys.stderr)
        return 2
    jar = reference_tool(reference_jars(REPO, PROG))
    print(f"{PROG}: a Python HIU with {jar.name} 1.2.0 ({version}) against {binary}", flush=True)
    checks = Checks()
    try:
        sandbox = Sandbox(binary)
    except Failed as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    try:
        jwks = expect_status(call("GET", f"{sandbox.url}/gateway/v0.5/certs"), 200, "certs")["keys"]
        gateway = Gateway(sandbox.url)
        gateway.session(CLIENT_ID, CLIENT_SECRET)
        hiu = Hiu(jwks)
        run = Run(sandbox, gateway, hiu, jar, checks)
        for v in ("v0.5", "v3"):
            gateway.register_bridge(hiu.url, v)
            run.journey(v)

        def corrupted() -> None:
            faults = {"faults": [{"path": "/push/corrupt", "corrupt": True}]}
            expect_status(sandbox.control("PUT", "/faults", faults), 200, "PUT /_sandbox/faults")
            request = run.init("v3", "asha.verma@sbx")
            _, ids = run.notified("v3", request, "GRANTED")
            artefact = max((run.fetch("v3", i) for i in ids), key=lambda a: len(a["consentDetail"]["careContexts"]))
            run.transfer("v3", artefact, False, "corrupt", corrupted=True)

        checks.run("v3: with the corrupt fault, the entry that does not decrypt is reported ERRORED, and that is honest", corrupted)
    except Failed as e:
        checks.failures.append(str(e))
    finally:
        if checks.failures:
            print(f"{PROG}: last lines of the sandbox's log:\n{sandbox.tail()}")
        sandbox.stop()
    print(f"{PROG}: done in {time.monotonic() - started:.0f} s")
    return checks.summary("hiu data-flow interop")


if __name__ == "__main__":
    sys.exit(main())
