"""Carestack SDK interop check: the CreateHPR workflow against the sandbox.

Runs the published SDK's `CreateHPR` step machine end to end, three times:

  a) an existing professional: the flow ends at CHECK_ACCOUNT_EXIST;
  b) a new professional whose mobile is the Aadhaar-linked one: demographic
     auth succeeds and the mobile OTP steps are skipped; afterwards the same
     Aadhaar reports the new account;
  c) a new professional with a different mobile: the mobile is verified by
     OTP before the HPR ID is created.

OTPs are read from the sandbox outbox; the environment (SANDBOX_URL, API_URL,
INTEROP_DEBUG), failure reports and the exit status are described in
sandbox_client.py. With INTEROP_VARIANT=weak-password only flows a and c run,
and the HPR ID is created with a password that breaks the HPR password policy.
"""

import asyncio
import os
import re
import sys
from typing import Any, Optional

# Importing sandbox_client puts API_URL in the environment, which
# carestack.default_config reads when it is imported: it comes first.
from sandbox_client import (
    advance, begin, config, expect, log_step, outbox_message,
    run_flows, run_step, show, start_registration,
)

from carestack.common.enums import HprRegistrationSteps
from carestack.practitioner.hpr.create_hpr import CreateHPR

# INTEROP_VARIANT=weak-password sends a password that breaks the HPR password policy: the
# conformance runner, judging this script's traffic, must fail the create step.
PASSWORD = "password" if os.environ.get("INTEROP_VARIANT") == "weak-password" else "Sandbox@2024"

# Sandbox test identities (fixtures/default.json). Aadhaar numbers carry a
# valid Verhoeff check digit, which the sandbox enforces.
EXISTING_AADHAAR = "567890123458"
EXISTING_HPR_ID_NUMBER = "71-1234-5678-9012"
SAME_MOBILE_AADHAAR = "678901234560"
SAME_MOBILE = "9700000002"  # equals the Aadhaar-linked mobile
OTHER_MOBILE_AADHAAR = "789012345674"
OTHER_MOBILE = "9811122334"  # differs from the Aadhaar-linked mobile

Steps = HprRegistrationSteps
HPR_ID_NUMBER_RE = re.compile(r"\d{14}|\d{2}-\d{4}-\d{4}-\d{4}")


async def start_verify_check(
    hpr: CreateHPR, aadhaar: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """start_registration -> VERIFY_AADHAAR_OTP -> CHECK_ACCOUNT_EXIST."""
    start = await start_registration(hpr, aadhaar, Steps.VERIFY_AADHAAR_OTP, "txnId", "mobileNumber")
    aadhaar_txn = start["data"]["txnId"]

    otp = (await outbox_message(aadhaar_txn, "to"))["otp"]
    verify = await advance(
        hpr,
        Steps.VERIFY_AADHAAR_OTP,
        {
            "otp": otp,
            "txnId": aadhaar_txn,
            "domainName": "@hpr.abdm",
            "idType": "hpr_id",
            "restrictions": None,
        },
        Steps.CHECK_ACCOUNT_EXIST,
        *("txnId", "name", "gender", "birthDate", "mobileNumber", "district", "state", "pincode"),
    )

    check = await run_step(
        hpr,
        Steps.CHECK_ACCOUNT_EXIST,
        {"txnId": verify["data"]["txnId"], "preverifiedCheck": True},
    )
    log_step("CHECK_ACCOUNT_EXIST", check, "hprIdNumber", "hprId", "txnId", "new", "categoryId", "subCategoryId")
    return start, verify, check


def split_birth_date(birth_date: Optional[str]) -> tuple[str, str, str]:
    """(day, month, year) from 'DD-MM-YYYY', 'DD/MM/YYYY' or 'YYYY-MM-DD'."""
    parts = re.split(r"[-/]", birth_date or "")
    expect(len(parts) == 3 and all(p.isdigit() for p in parts), f"unreadable birthDate {birth_date!r}")
    if len(parts[0]) == 4:
        return parts[2], parts[1], parts[0]
    return parts[0], parts[1], parts[2]


def create_payload(
    verify: dict[str, Any], check: dict[str, Any], hpr_id: str, txn_id: str
) -> dict[str, str]:
    """CREATE_HPR_ID_WITH_PREVERIFIED payload from the verify and check data.

    The check response (NonHprAccountResponse) carries the split names, birth
    date parts and state/district codes; the verify response carries the
    e-mail and is the fallback for names, birth date, address and pincode.
    """
    v, c = verify["data"], check["data"]

    first, middle, last = c.get("firstName"), c.get("middleName"), c.get("lastName")
    if not first or not last:
        names = (v.get("name") or "").split()
        expect(len(names) >= 2, f"cannot split name {v.get('name')!r} into first/last")
        first, last, middle = names[0], names[-1], " ".join(names[1:-1])

    day, month, year = c.get("dayOfBirth"), c.get("monthOfBirth"), c.get("yearOfBirth")
    if not (day and month and year):
        day, month, year = split_birth_date(v.get("birthDate"))

    state_code, district_code = c.get("stateCode"), c.get("districtCode")
    expect(bool(state_code), f"CHECK_ACCOUNT_EXIST data has no stateCode: {show(c)}")
    expect(bool(district_code), f"CHECK_ACCOUNT_EXIST data has no districtCode: {show(c)}")

    # The e-mail is mandatory for creation; a tester would type one if the
    # Aadhaar profile has none.
    email = v.get("email") or f"{first}.{last}@example.com".lower()

    return {
        "address": c.get("address") or v["address"],
        "dayOfBirth": str(day),
        "districtCode": str(district_code),
        "email": email,
        "firstName": first,
        "hpCategoryCode": str(c["categoryId"]),
        "hpSubCategoryCode": str(c["subCategoryId"]),
        "hprId": hpr_id,
        "lastName": last,
        "middleName": middle or "",
        "monthOfBirth": str(month),
        "password": PASSWORD,
        "pincode": c.get("pincode") or v["pincode"],
        "profilePhoto": c.get("profilePhoto") or v.get("profilePhoto") or "",
        "stateCode": str(state_code),
        "txnId": txn_id,
        "yearOfBirth": str(year),
    }


async def suggest_and_create(
    hpr: CreateHPR, verify: dict[str, Any], check: dict[str, Any], txn_id: str
) -> dict[str, Any]:
    """GET_HPR_ID_SUGGESTION -> CREATE_HPR_ID_WITH_PREVERIFIED, with assertions."""
    suggestions = await run_step(hpr, Steps.GET_HPR_ID_SUGGESTION, {"txnId": txn_id})
    log_step("GET_HPR_ID_SUGGESTION", suggestions)
    ids = suggestions["data"]
    expect(
        isinstance(ids, list) and len(ids) > 0 and all(isinstance(i, str) and i for i in ids),
        f"GET_HPR_ID_SUGGESTION returned no usable suggestions: {show(ids)}",
    )
    expect(
        suggestions["next_step"] == Steps.CREATE_HPR_ID_WITH_PREVERIFIED.value,
        f"GET_HPR_ID_SUGGESTION next_step is {suggestions['next_step']!r}",
    )
    chosen = ids[0]

    payload = create_payload(verify, check, chosen, txn_id)
    created = await run_step(hpr, Steps.CREATE_HPR_ID_WITH_PREVERIFIED, payload)
    log_step("CREATE_HPR_ID_WITH_PREVERIFIED", created, "hprIdNumber", "hprId", "name", "mobile", "categoryId", "new")
    data = created["data"]
    expect(created["next_step"] is None, f"CREATE_HPR_ID_WITH_PREVERIFIED next_step is {created['next_step']!r}")
    expect(
        bool(HPR_ID_NUMBER_RE.fullmatch(data["hprIdNumber"])),
        f"hprIdNumber {data['hprIdNumber']!r} is not 14 digits (NN-NNNN-NNNN-NNNN)",
    )
    expect(
        data["hprId"].startswith(chosen),
        f"created hprId {data['hprId']!r} does not start with the chosen {chosen!r}",
    )
    return created


async def flow_existing(hpr: CreateHPR) -> None:
    _, _, check = await start_verify_check(hpr, EXISTING_AADHAAR)
    expect(check["next_step"] is None, f"existing account: next_step is {check['next_step']!r}, wanted end of flow")
    expect(
        check["data"]["hprIdNumber"] == EXISTING_HPR_ID_NUMBER,
        f"existing account: hprIdNumber is {check['data']['hprIdNumber']!r}",
    )


async def flow_new_same_mobile(hpr: CreateHPR) -> None:
    aadhaar, mobile = SAME_MOBILE_AADHAAR, SAME_MOBILE
    _, verify, check = await start_verify_check(hpr, aadhaar)
    expect(
        check["next_step"] == Steps.DEMOGRAPHIC_AUTH_VIA_MOBILE.value,
        f"new account: next_step is {check['next_step']!r}",
    )
    expect(check["data"]["hprIdNumber"] == "", f"new account: hprIdNumber is {check['data']['hprIdNumber']!r}")
    txn_id = check["data"].get("txnId") or verify["data"]["txnId"]

    demo = await run_step(hpr, Steps.DEMOGRAPHIC_AUTH_VIA_MOBILE, {"txnId": txn_id, "mobileNumber": mobile})
    log_step("DEMOGRAPHIC_AUTH_VIA_MOBILE", demo, "verified")
    expect(demo["data"]["verified"] is True, "Aadhaar-linked mobile: demographic auth not verified")
    expect(
        demo["next_step"] == Steps.GET_HPR_ID_SUGGESTION.value,
        f"DEMOGRAPHIC_AUTH_VIA_MOBILE next_step is {demo['next_step']!r}",
    )

    created = await suggest_and_create(hpr, verify, check, txn_id)

    # The same Aadhaar now finds the account that was just created.
    _, _, again = await start_verify_check(hpr, aadhaar)
    expect(again["next_step"] is None, f"after creation: next_step is {again['next_step']!r}, wanted end of flow")
    expect(
        again["data"]["hprIdNumber"] == created["data"]["hprIdNumber"],
        f"after creation: hprIdNumber is {again['data']['hprIdNumber']!r}, "
        f"created {created['data']['hprIdNumber']!r}",
    )


async def flow_new_other_mobile(hpr: CreateHPR) -> None:
    aadhaar, mobile = OTHER_MOBILE_AADHAAR, OTHER_MOBILE
    _, verify, check = await start_verify_check(hpr, aadhaar)
    expect(
        check["next_step"] == Steps.DEMOGRAPHIC_AUTH_VIA_MOBILE.value,
        f"new account: next_step is {check['next_step']!r}",
    )
    expect(check["data"]["hprIdNumber"] == "", f"new account: hprIdNumber is {check['data']['hprIdNumber']!r}")
    txn_id = check["data"].get("txnId") or verify["data"]["txnId"]

    demo = await run_step(hpr, Steps.DEMOGRAPHIC_AUTH_VIA_MOBILE, {"txnId": txn_id, "mobileNumber": mobile})
    log_step("DEMOGRAPHIC_AUTH_VIA_MOBILE", demo, "verified")
    expect(demo["data"]["verified"] is False, "other mobile: demographic auth unexpectedly verified")
    expect(
        demo["next_step"] == Steps.GENERATE_MOBILE_OTP.value,
        f"DEMOGRAPHIC_AUTH_VIA_MOBILE next_step is {demo['next_step']!r}",
    )

    gen = await advance(
        hpr, Steps.GENERATE_MOBILE_OTP, {"mobile": mobile, "txnId": txn_id}, Steps.VERIFY_MOBILE_OTP, "txnId", "mobileNumber"
    )
    mobile_txn = gen["data"]["txnId"]

    otp = (await outbox_message(mobile_txn, "to"))["otp"]
    verified = await advance(
        hpr, Steps.VERIFY_MOBILE_OTP, {"otp": otp, "txnId": mobile_txn}, Steps.GET_HPR_ID_SUGGESTION, "txnId", "mobileNumber"
    )

    await suggest_and_create(hpr, verify, check, verified["data"]["txnId"])


FLOWS = [
    ("a existing", flow_existing),
    ("b new, same mobile", flow_new_same_mobile),
    ("c new, other mobile", flow_new_other_mobile),
]


async def main() -> int:
    begin("CreateHPR")
    flows = FLOWS
    if os.environ.get("INTEROP_VARIANT"):
        # The variant is about the flow with mobile verification: leave out the one before it.
        flows = [f for f in FLOWS if f[1] is not flow_new_same_mobile]
    return await run_flows(
        "CreateHPR",
        flows,
        lambda: CreateHPR(config()),
        lambda hpr: hpr.hpr_service.close(),
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
