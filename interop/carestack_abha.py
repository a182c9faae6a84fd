"""Carestack SDK interop check: the CreateABHA workflow against the sandbox.

Runs the published SDK's `CreateABHA` step machine end to end, twice:

  a) a new person enrolling with the Aadhaar-linked mobile: after the
     enrolment the flow goes straight to the address suggestions;
  b) a new person enrolling with another mobile: the mobile is updated and
     verified by OTP before the address suggestions.

Each flow ends by creating the first suggested ABHA address. The SDK encrypts
the Aadhaar number, the mobile and every OTP itself (RSA-OAEP SHA-1) with the
key in ABHA_PUBLIC_KEY, which it reads when `carestack.default_config` is first
imported: the sandbox's key is fetched from its ABHA v3 certificate endpoint
and put in the environment before anything from the SDK is imported.

OTPs are read from the sandbox outbox (GET {SANDBOX_URL}/_sandbox/outbox),
the way a tester reads the SMS. Any error or unexpected response prints the
details (including EhrApiError's status and body) and exits with status 1.

Environment:
  SANDBOX_URL  base URL of the sandbox, e.g. http://127.0.0.1:40123 (required)
  API_URL      Carestack API base URL (default: $SANDBOX_URL/carestack)
  INTEROP_DEBUG=1  show the SDK's and httpx's own logging
"""

import asyncio
import json
import logging
import os
import re
import sys
import traceback
from typing import Any, Optional

import httpx  # an SDK dependency; not part of the SDK, so safe to import first

SANDBOX_URL = os.environ.get("SANDBOX_URL", "").rstrip("/")
if not SANDBOX_URL:
    sys.exit("carestack_abha.py: SANDBOX_URL is not set")
API_URL = os.environ.get("API_URL", "").rstrip("/") or f"{SANDBOX_URL}/carestack"
CERTIFICATE_URL = f"{SANDBOX_URL}/abha/api/v3/profile/public/certificate"
ALGORITHM = "RSA/ECB/OAEPWithSHA-1AndMGF1Padding"


def fetch_public_key() -> str:
    """The sandbox's ABHA v3 public key: base64 DER SubjectPublicKeyInfo."""
    try:
        resp = httpx.get(CERTIFICATE_URL, timeout=10.0)
    except httpx.HTTPError as e:
        sys.exit(f"carestack_abha.py: GET {CERTIFICATE_URL} failed: {e!r}")
    if resp.status_code != 200:
        sys.exit(f"carestack_abha.py: GET {CERTIFICATE_URL} returned {resp.status_code}: {resp.text}")
    cert = resp.json()
    key, algorithm = cert.get("publicKey"), cert.get("encryptionAlgorithm")
    if not isinstance(key, str) or not key:
        sys.exit(f"carestack_abha.py: no publicKey in {resp.text}")
    if algorithm != ALGORITHM:
        sys.exit(f"carestack_abha.py: encryptionAlgorithm is {algorithm!r}, wanted {ALGORITHM!r}")
    return key


# The SDK reads ABHA_PUBLIC_KEY (and API_URL) once, when carestack.default_config
# is imported (every SDK module imports it); a bare base64 key is wrapped into a
# PEM "PUBLIC KEY" block by EncryptData. Both must be set before the imports.
ABHA_PUBLIC_KEY = fetch_public_key()
os.environ["ABHA_PUBLIC_KEY"] = ABHA_PUBLIC_KEY
os.environ["API_URL"] = API_URL

import carestack.default_config as default_config  # noqa: E402
from carestack.base.base_types import ClientConfig  # noqa: E402
from carestack.base.errors import EhrApiError  # noqa: E402
from carestack.common.enums import AbhaSteps  # noqa: E402
from carestack.patient.abha.create_abha import CreateABHA  # noqa: E402

API_KEY = "sandbox-api-key"
FACILITY_ID = "IN2910000001"
X_HPR_ID = "sandbox-interop@hpr.abdm"

# Sandbox test identities (fixtures/default.json): people without an ABHA yet.
# Aadhaar numbers carry a valid Verhoeff check digit, which the sandbox enforces.
SAME_MOBILE_AADHAAR = "876543210988"  # Sunil Das
SAME_MOBILE = "9765432101"  # his Aadhaar-linked mobile
OTHER_MOBILE_AADHAAR = "912345678092"  # Priya Nair (Aadhaar-linked mobile 9654321012)
OTHER_MOBILE = "9000012345"  # differs from the Aadhaar-linked mobile
FLOW_TIMEOUT_S = 60.0

Steps = AbhaSteps
ABHA_NUMBER_RE = re.compile(r"\d{2}-\d{4}-\d{4}-\d{4}")
# ABHA v3 address rule for the local part: 8-18 characters, letters and digits
# with at most one '.' and one '_', neither first, last nor next to each other.
ABHA_ADDRESS_RE = re.compile(r"[A-Za-z0-9]+(?:[._][A-Za-z0-9]+){0,2}")


class InteropFailure(Exception):
    """A response that the SDK accepted but that is not what the flow expects."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise InteropFailure(message)


class Recorder:
    """Remembers the step in progress so a failure can say where it happened."""

    def __init__(self) -> None:
        self.flow = ""
        self.step = ""
        self.payload: Optional[dict[str, Any]] = None


current = Recorder()


def config() -> ClientConfig:
    cfg = ClientConfig(
        api_key=API_KEY,
        x_hpr_id=X_HPR_ID,
        api_url=API_URL,
        facility_id=FACILITY_ID,
    )
    expect(cfg.api_url == API_URL, f"ClientConfig.api_url is {cfg.api_url!r}, wanted {API_URL!r}")
    return cfg


def show(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def log_step(step: str, result: dict[str, Any], *fields: str) -> None:
    """Print one line: flow, step, selected response fields and the next step."""
    data = result.get("data")
    if isinstance(data, dict):
        parts = [f"{f}={show(data.get(f))}" for f in fields]
    else:
        parts = [f"data={show(data)}"]
    parts.append(f"next_step={result.get('next_step')}")
    print(f"[{current.flow}] {step}: " + " ".join(parts), flush=True)


async def outbox_message(txn_id: str) -> dict[str, Any]:
    """Newest OTP message the sandbox 'sent' for txn_id (the outbox is oldest first)."""
    url = f"{SANDBOX_URL}/_sandbox/outbox"
    async with httpx.AsyncClient(timeout=10.0) as client:
        resp = await client.get(url, params={"txnId": txn_id})
    expect(
        resp.status_code == 200,
        f"GET {url}?txnId={txn_id} returned {resp.status_code}: {resp.text}",
    )
    messages = resp.json()
    expect(
        isinstance(messages, list) and len(messages) > 0,
        f"outbox for txnId {txn_id} is empty or not a list: {resp.text}",
    )
    newest = messages[-1]
    expect(isinstance(newest, dict), f"outbox entry is not an object: {show(newest)}")
    expect(
        newest.get("txnId") == txn_id,
        f"outbox entry belongs to txnId {newest.get('txnId')!r}, asked for {txn_id!r}",
    )
    otp = newest.get("otp")
    expect(isinstance(otp, str) and otp != "", f"outbox entry has no string otp: {show(newest)}")
    print(
        f"[{current.flow}] outbox: txnId={txn_id} to={show(newest.get('to'))} "
        f"purpose={show(newest.get('purpose'))} otp={otp}",
        flush=True,
    )
    return newest


async def run_step(abha: CreateABHA, step: AbhaSteps, payload: dict[str, Any]) -> dict[str, Any]:
    current.step = step.value
    current.payload = payload
    result = await abha.registration_flow(step, payload)
    expect(isinstance(result, dict), f"{step.value} returned {type(result).__name__}, not a dict")
    return result


async def start_and_enrol(abha: CreateABHA, aadhaar: str, mobile: str) -> dict[str, Any]:
    """start_registration -> ENROLL_WITH_AADHAAR; returns the enrolment step's result."""
    current.step = "start_registration"
    current.payload = {"aadhaar": aadhaar}
    start = await abha.start_registration(aadhaar)
    log_step("start_registration", start, "txnId", "message")
    expect(
        start["next_step"] == Steps.ENROLL_WITH_AADHAAR.value,
        f"start_registration next_step is {start['next_step']!r}",
    )
    txn_id = start["data"]["txnId"]

    message = await outbox_message(txn_id)
    enrolled = await run_step(
        abha,
        Steps.ENROLL_WITH_AADHAAR,
        {"otp": message["otp"], "txnId": txn_id, "mobile": mobile},
    )
    data = enrolled["data"]
    profile = data["ABHAProfile"]
    print(
        f"[{current.flow}] ENROLL_WITH_AADHAAR: message={show(data['message'])} "
        f"isNew={show(data['isNew'])} ABHANumber={show(profile['ABHANumber'])} "
        f"mobile={show(profile['mobile'])} phrAddress={show(profile.get('phrAddress'))} "
        f"next_step={enrolled['next_step']}",
        flush=True,
    )
    expect(data["isNew"] is True, f"a person without an ABHA enrolled with isNew={data['isNew']!r}")
    expect(
        data["message"] == "Account created successfully",
        f"ENROLL_WITH_AADHAAR message is {data['message']!r}",
    )
    expect(
        bool(ABHA_NUMBER_RE.fullmatch(profile["ABHANumber"])),
        f"ABHANumber {profile['ABHANumber']!r} is not NN-NNNN-NNNN-NNNN",
    )
    expect(data["txnId"] == txn_id, f"ENROLL_WITH_AADHAAR txnId is {data['txnId']!r}, sent {txn_id!r}")
    return enrolled


async def suggest_and_create(abha: CreateABHA, txn_id: str, abha_number: str) -> None:
    """ABHA_ADDRESS_SUGGESTION -> CREATE_ABHA_ADDRESS with the first suggestion."""
    suggestions = await run_step(abha, Steps.ABHA_ADDRESS_SUGGESTION, {"txnId": txn_id})
    log_step("ABHA_ADDRESS_SUGGESTION", suggestions, "abhaAddressList", "txnId")
    addresses = suggestions["data"]["abhaAddressList"]
    expect(
        len(addresses) > 0 and all(isinstance(a, str) and a for a in addresses),
        f"ABHA_ADDRESS_SUGGESTION returned no usable suggestions: {show(addresses)}",
    )
    for a in addresses:
        expect(
            8 <= len(a) <= 18 and bool(ABHA_ADDRESS_RE.fullmatch(a)) and a.count(".") <= 1 and a.count("_") <= 1,
            f"suggestion {a!r} breaks the ABHA v3 address rule",
        )
    expect(
        suggestions["next_step"] == Steps.CREATE_ABHA_ADDRESS.value,
        f"ABHA_ADDRESS_SUGGESTION next_step is {suggestions['next_step']!r}",
    )
    chosen = addresses[0]

    created = await run_step(
        abha,
        Steps.CREATE_ABHA_ADDRESS,
        {"abhaAddress": chosen, "txnId": suggestions["data"]["txnId"]},
    )
    log_step("CREATE_ABHA_ADDRESS", created, "txnId", "healthIdNumber", "preferredAbhaAddress")
    data = created["data"]
    expect(created["next_step"] is None, f"CREATE_ABHA_ADDRESS next_step is {created['next_step']!r}")
    expect(
        data["healthIdNumber"] == abha_number,
        f"healthIdNumber {data['healthIdNumber']!r} is not the enrolled ABHA number {abha_number!r}",
    )
    expect(
        data["preferredAbhaAddress"] == f"{chosen}@sbx",
        f"preferredAbhaAddress {data['preferredAbhaAddress']!r}, chose {chosen!r}",
    )


async def flow_same_mobile(abha: CreateABHA) -> None:
    enrolled = await start_and_enrol(abha, SAME_MOBILE_AADHAAR, SAME_MOBILE)
    profile = enrolled["data"]["ABHAProfile"]
    expect(profile["mobile"] == SAME_MOBILE, f"ABHAProfile.mobile is {profile['mobile']!r}")
    expect(
        enrolled["next_step"] == Steps.ABHA_ADDRESS_SUGGESTION.value,
        f"Aadhaar-linked mobile: next_step is {enrolled['next_step']!r}, wanted the address suggestion",
    )
    await suggest_and_create(abha, enrolled["data"]["txnId"], profile["ABHANumber"])


async def flow_other_mobile(abha: CreateABHA) -> None:
    mobile = OTHER_MOBILE
    enrolled = await start_and_enrol(abha, OTHER_MOBILE_AADHAAR, mobile)
    profile = enrolled["data"]["ABHAProfile"]
    expect(
        profile["mobile"] != mobile,
        "other mobile: ABHAProfile.mobile equals the unverified mobile, so the SDK would skip its OTP",
    )
    expect(
        enrolled["next_step"] == Steps.GENERATE_MOBILE_OTP.value,
        f"other mobile: next_step is {enrolled['next_step']!r}, wanted the mobile OTP",
    )
    txn_id = enrolled["data"]["txnId"]

    sent = await run_step(abha, Steps.GENERATE_MOBILE_OTP, {"updateValue": mobile, "txnId": txn_id})
    log_step("GENERATE_MOBILE_OTP", sent, "txnId", "message")
    expect(
        sent["next_step"] == Steps.VERIFY_MOBILE_OTP.value,
        f"GENERATE_MOBILE_OTP next_step is {sent['next_step']!r}",
    )
    mobile_txn = sent["data"]["txnId"]

    message = await outbox_message(mobile_txn)
    expect(
        str(message.get("to", "")).endswith(mobile[-4:]),
        f"the mobile OTP went to {message.get('to')!r}, not to ...{mobile[-4:]}",
    )
    verified = await run_step(abha, Steps.VERIFY_MOBILE_OTP, {"otp": message["otp"], "txnId": mobile_txn})
    log_step("VERIFY_MOBILE_OTP", verified, "txnId", "authResult", "message")
    expect(
        verified["data"]["authResult"] == "success",
        f"VERIFY_MOBILE_OTP authResult is {verified['data']['authResult']!r}",
    )
    expect(
        verified["next_step"] == Steps.ABHA_ADDRESS_SUGGESTION.value,
        f"VERIFY_MOBILE_OTP next_step is {verified['next_step']!r}",
    )
    await suggest_and_create(abha, verified["data"]["txnId"], profile["ABHANumber"])


FLOWS = [
    ("a new, Aadhaar-linked mobile", flow_same_mobile),
    ("b new, other mobile", flow_other_mobile),
]


def render_body(data: Any) -> str:
    if isinstance(data, httpx.Response):
        return f"HTTP {data.status_code} {data.text}"
    if isinstance(data, (dict, list)):
        return show(data)
    return repr(data)


def report_failure(exc: BaseException) -> None:
    """Print the failing step, its payload and the whole exception chain."""
    err = sys.stderr
    print(f"FAILED in flow '{current.flow}' at step {current.step}", file=err)
    if current.payload is not None:
        print(f"  request payload (before the SDK encrypts): {show(current.payload)}", file=err)
    seen: set[int] = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        print(f"  {type(e).__name__}: {e}", file=err)
        if isinstance(e, EhrApiError):
            print(f"    message: {e.message}", file=err)
            print(f"    status:  {e.status_code}", file=err)
            print(f"    body:    {render_body(e.data)}", file=err)
        e = e.__cause__ or e.__context__
    print("  traceback:", file=err)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)


def setup_logging() -> None:
    if os.environ.get("INTEROP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s: %(message)s")
        logging.getLogger("httpcore").setLevel(logging.INFO)
    else:
        # The SDK logs every error itself (often with an empty traceback);
        # report_failure prints the same information once, in one place.
        logging.getLogger("carestack").setLevel(logging.CRITICAL + 1)
        logging.getLogger("httpx").setLevel(logging.WARNING)


async def main() -> int:
    setup_logging()
    print(f"carestack CreateABHA interop: API_URL={API_URL} SANDBOX_URL={SANDBOX_URL}", flush=True)
    if default_config.DEFAULT_ABHA_PUBLIC_KEY != ABHA_PUBLIC_KEY:
        # e.g. a .env file loaded by the SDK that sets another key
        report_failure(InteropFailure("the SDK did not take ABHA_PUBLIC_KEY from the environment"))
        return 1
    print(f"ABHA_PUBLIC_KEY: the sandbox's key from {CERTIFICATE_URL} ({len(ABHA_PUBLIC_KEY)} chars)", flush=True)
    passed = 0
    for name, flow in FLOWS:
        current.flow, current.step, current.payload = name, "", None
        abha = CreateABHA(config())
        try:
            await asyncio.wait_for(flow(abha), timeout=FLOW_TIMEOUT_S)
        except asyncio.TimeoutError:
            report_failure(InteropFailure(f"flow did not finish within {FLOW_TIMEOUT_S:.0f} s"))
            return 1
        except Exception as exc:  # noqa: BLE001  (every failure is reported)
            report_failure(exc)
            return 1
        finally:
            await abha.abha_service.close()
        passed += 1
        print(f"[{name}] passed", flush=True)
    print(f"carestack CreateABHA interop: {passed} flows passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
