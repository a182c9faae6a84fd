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

OTPs are read from the sandbox outbox; the environment (SANDBOX_URL, API_URL,
INTEROP_DEBUG), failure reports and the exit status are described in
sandbox_client.py.
"""

import asyncio
import os
import re
import sys
from typing import Any

import httpx  # an SDK dependency; not part of the SDK, so safe to import first

# Importing sandbox_client reads SANDBOX_URL and puts API_URL in the
# environment; it imports nothing from the SDK.
from sandbox_client import (
    SANDBOX_URL, InteropFailure, advance, begin, config, current, expect, log_step,
    outbox_message, report_failure, run_flows, run_step, show, start_registration,
)

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
# PEM "PUBLIC KEY" block by EncryptData. Both must be set before the imports:
# sandbox_client set API_URL when it was imported above.
ABHA_PUBLIC_KEY = fetch_public_key()
os.environ["ABHA_PUBLIC_KEY"] = ABHA_PUBLIC_KEY

import carestack.default_config as default_config  # noqa: E402
from carestack.common.enums import AbhaSteps  # noqa: E402
from carestack.patient.abha.create_abha import CreateABHA  # noqa: E402

# Sandbox test identities (fixtures/default.json): people without an ABHA yet.
# Aadhaar numbers carry a valid Verhoeff check digit, which the sandbox enforces.
SAME_MOBILE_AADHAAR = "876543210988"  # Sunil Das
SAME_MOBILE = "9765432101"  # his Aadhaar-linked mobile
OTHER_MOBILE_AADHAAR = "912345678092"  # Priya Nair (Aadhaar-linked mobile 9654321012)
OTHER_MOBILE = "9000012345"  # differs from the Aadhaar-linked mobile

Steps = AbhaSteps
ABHA_NUMBER_RE = re.compile(r"\d{2}-\d{4}-\d{4}-\d{4}")
# ABHA v3 address rule for the local part: 8-18 characters, letters and digits
# with at most one '.' and one '_', neither first, last nor next to each other.
ABHA_ADDRESS_RE = re.compile(r"[A-Za-z0-9]+(?:[._][A-Za-z0-9]+){0,2}")


async def start_and_enrol(abha: CreateABHA, aadhaar: str, mobile: str) -> dict[str, Any]:
    """start_registration -> ENROLL_WITH_AADHAAR; returns the enrolment step's result."""
    start = await start_registration(abha, aadhaar, Steps.ENROLL_WITH_AADHAAR, "txnId", "message")
    txn_id = start["data"]["txnId"]

    message = await outbox_message(txn_id, "to", "purpose")
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

    sent = await advance(
        abha, Steps.GENERATE_MOBILE_OTP, {"updateValue": mobile, "txnId": txn_id}, Steps.VERIFY_MOBILE_OTP, "txnId", "message"
    )
    mobile_txn = sent["data"]["txnId"]

    message = await outbox_message(mobile_txn, "to", "purpose")
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


# The failure report shows the payload as the flow built it; the SDK encrypts
# the Aadhaar number, the mobile and the OTPs before sending.
PAYLOAD_LABEL = "request payload (before the SDK encrypts)"


async def main() -> int:
    begin("CreateABHA")
    if default_config.DEFAULT_ABHA_PUBLIC_KEY != ABHA_PUBLIC_KEY:
        # e.g. a .env file loaded by the SDK that sets another key
        report_failure(InteropFailure("the SDK did not take ABHA_PUBLIC_KEY from the environment"), PAYLOAD_LABEL)
        return 1
    print(f"ABHA_PUBLIC_KEY: the sandbox's key from {CERTIFICATE_URL} ({len(ABHA_PUBLIC_KEY)} chars)", flush=True)
    return await run_flows(
        "CreateABHA",
        FLOWS,
        lambda: CreateABHA(config()),
        lambda abha: abha.abha_service.close(),
        PAYLOAD_LABEL,
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
