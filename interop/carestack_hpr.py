"""Carestack SDK interop check: the CreateHPR workflow against the sandbox.

Runs the published SDK's `CreateHPR` step machine end to end, three times:

  a) an existing professional: the flow ends at CHECK_ACCOUNT_EXIST;
  b) a new professional whose mobile is the Aadhaar-linked one: demographic
     auth succeeds and the mobile OTP steps are skipped; afterwards the same
     Aadhaar reports the new account;
  c) a new professional with a different mobile: the mobile is verified by
     OTP before the HPR ID is created.

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

SANDBOX_URL = os.environ.get("SANDBOX_URL", "").rstrip("/")
if not SANDBOX_URL:
    sys.exit("carestack_hpr.py: SANDBOX_URL is not set")
API_URL = os.environ.get("API_URL", "").rstrip("/") or f"{SANDBOX_URL}/carestack"

# carestack.default_config reads API_URL (and X_HPR_ID) from the environment
# when it is imported, and ClientConfig falls back to it; set it before the
# SDK import as well as passing api_url explicitly below.
os.environ["API_URL"] = API_URL

import httpx  # noqa: E402  (an SDK dependency)

from carestack.base.base_types import ClientConfig  # noqa: E402
from carestack.base.errors import EhrApiError  # noqa: E402
from carestack.common.enums import HprRegistrationSteps  # noqa: E402
from carestack.practitioner.hpr.create_hpr import CreateHPR  # noqa: E402

API_KEY = "sandbox-api-key"
FACILITY_ID = "IN2910000001"
X_HPR_ID = "sandbox-interop@hpr.abdm"
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
FLOW_TIMEOUT_S = 60.0

Steps = HprRegistrationSteps
HPR_ID_NUMBER_RE = re.compile(r"\d{14}|\d{2}-\d{4}-\d{4}-\d{4}")


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


async def outbox_otp(txn_id: str) -> str:
    """Newest OTP the sandbox 'sent' for txn_id (the outbox is oldest first)."""
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
    print(f"[{current.flow}] outbox: txnId={txn_id} to={show(newest.get('to'))} otp={otp}", flush=True)
    return otp


async def run_step(
    hpr: CreateHPR, step: HprRegistrationSteps, payload: dict[str, Any]
) -> dict[str, Any]:
    current.step = step.value
    current.payload = payload
    result = await hpr.registration_flow(step, payload)
    expect(isinstance(result, dict), f"{step.value} returned {type(result).__name__}, not a dict")
    return result


async def start_verify_check(
    hpr: CreateHPR, aadhaar: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """start_registration -> VERIFY_AADHAAR_OTP -> CHECK_ACCOUNT_EXIST."""
    current.step = "start_registration"
    current.payload = {"aadhaar": aadhaar}
    start = await hpr.start_registration(aadhaar)
    log_step("start_registration", start, "txnId", "mobileNumber")
    expect(
        start["next_step"] == Steps.VERIFY_AADHAAR_OTP.value,
        f"start_registration next_step is {start['next_step']!r}",
    )
    aadhaar_txn = start["data"]["txnId"]

    otp = await outbox_otp(aadhaar_txn)
    verify = await run_step(
        hpr,
        Steps.VERIFY_AADHAAR_OTP,
        {
            "otp": otp,
            "txnId": aadhaar_txn,
            "domainName": "@hpr.abdm",
            "idType": "hpr_id",
            "restrictions": None,
        },
    )
    log_step("VERIFY_AADHAAR_OTP", verify, "txnId", "name", "gender", "birthDate", "mobileNumber", "district", "state", "pincode")
    expect(
        verify["next_step"] == Steps.CHECK_ACCOUNT_EXIST.value,
        f"VERIFY_AADHAAR_OTP next_step is {verify['next_step']!r}",
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

    gen = await run_step(hpr, Steps.GENERATE_MOBILE_OTP, {"mobile": mobile, "txnId": txn_id})
    log_step("GENERATE_MOBILE_OTP", gen, "txnId", "mobileNumber")
    expect(
        gen["next_step"] == Steps.VERIFY_MOBILE_OTP.value,
        f"GENERATE_MOBILE_OTP next_step is {gen['next_step']!r}",
    )
    mobile_txn = gen["data"]["txnId"]

    otp = await outbox_otp(mobile_txn)
    verified = await run_step(hpr, Steps.VERIFY_MOBILE_OTP, {"otp": otp, "txnId": mobile_txn})
    log_step("VERIFY_MOBILE_OTP", verified, "txnId", "mobileNumber")
    expect(
        verified["next_step"] == Steps.GET_HPR_ID_SUGGESTION.value,
        f"VERIFY_MOBILE_OTP next_step is {verified['next_step']!r}",
    )

    await suggest_and_create(hpr, verify, check, verified["data"]["txnId"])


FLOWS = [
    ("a existing", flow_existing),
    ("b new, same mobile", flow_new_same_mobile),
    ("c new, other mobile", flow_new_other_mobile),
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
        print(f"  request payload: {show(current.payload)}", file=err)
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
    print(f"carestack CreateHPR interop: API_URL={API_URL} SANDBOX_URL={SANDBOX_URL}", flush=True)
    passed = 0
    flows = FLOWS
    if os.environ.get("INTEROP_VARIANT"):
        # The variant is about the flow with mobile verification: leave out the one before it.
        flows = [f for f in FLOWS if f[1] is not flow_new_same_mobile]
    for name, flow in flows:
        current.flow, current.step, current.payload = name, "", None
        hpr = CreateHPR(config())
        try:
            await asyncio.wait_for(flow(hpr), timeout=FLOW_TIMEOUT_S)
        except asyncio.TimeoutError:
            report_failure(InteropFailure(f"flow did not finish within {FLOW_TIMEOUT_S:.0f} s"))
            return 1
        except Exception as exc:  # noqa: BLE001  (every failure is reported)
            report_failure(exc)
            return 1
        finally:
            await hpr.hpr_service.close()
        passed += 1
        print(f"[{name}] passed", flush=True)
    print(f"carestack CreateHPR interop: {passed} flows passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
