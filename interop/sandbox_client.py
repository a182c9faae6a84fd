"""What the Carestack SDK interop checks share: the sandbox's URLs, the client
configuration, running and logging workflow steps, the OTP outbox, failure
reports and the loop over the flows.

OTPs are read from the sandbox outbox (GET {SANDBOX_URL}/_sandbox/outbox),
the way a tester reads the SMS. Any error or unexpected response prints the
details (including EhrApiError's status and body) and exits with status 1.

Environment:
  SANDBOX_URL  base URL of the sandbox, e.g. http://127.0.0.1:40123 (required)
  API_URL      Carestack API base URL (default: $SANDBOX_URL/carestack)
  SANDBOX_API_KEY  the client's Carestack API key (default: the fixtures' sandbox-api-key);
               `serve --credentials open`, the default, takes a key of the client's own
  INTEROP_DEBUG=1  show the SDK's and httpx's own logging

The SDK reads its settings (API_URL, ABHA_PUBLIC_KEY, ...) from the environment
once, when `carestack.default_config` is first imported. So this module imports
nothing from `carestack` when it is loaded: importing it puts API_URL in the
environment, and a check imports it before the SDK, with any other setting the
SDK needs put in the environment in between. The SDK names used below are
imported inside the functions, which only run after the check imported the SDK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, TypeVar

import httpx  # an SDK dependency; not part of the SDK, so safe to import first

if TYPE_CHECKING:
    from carestack.base.base_types import ClientConfig

# The running check's file name, which prefixes its messages when it cannot start.
PROG = os.path.basename(sys.argv[0])

SANDBOX_URL = os.environ.get("SANDBOX_URL", "").rstrip("/")
if not SANDBOX_URL:
    sys.exit(f"{PROG}: SANDBOX_URL is not set")
API_URL = os.environ.get("API_URL", "").rstrip("/") or f"{SANDBOX_URL}/carestack"

# carestack.default_config reads API_URL from the environment when it is
# imported, and ClientConfig falls back to it; it is set here, before any SDK
# import, as well as passed as api_url by config().
os.environ["API_URL"] = API_URL

# The fixtures' Carestack API key (GET /_sandbox/fixtures lists it under carestack.apiKeys).
FIXTURE_API_KEY = "sandbox-api-key"
# The key the client sends: its own, as it would send to the live Carestack API, or the fixtures'.
API_KEY = os.environ.get("SANDBOX_API_KEY", "").strip() or FIXTURE_API_KEY
FACILITY_ID = "IN2910000001"
X_HPR_ID = "sandbox-interop@hpr.abdm"
FLOW_TIMEOUT_S = 60.0


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


def config(api_key: str = API_KEY) -> ClientConfig:
    """The SDK's configuration for the sandbox, with the client's API key unless told another."""
    from carestack.base.base_types import ClientConfig

    cfg = ClientConfig(
        api_key=api_key,
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


async def outbox_message(txn_id: str, *fields: str) -> dict[str, Any]:
    """Newest OTP message the sandbox 'sent' for txn_id (the outbox is oldest first).

    Prints one line with the txnId, the message's `fields` and the OTP.
    """
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
    parts = [f"txnId={txn_id}", *(f"{f}={show(newest.get(f))}" for f in fields), f"otp={otp}"]
    print(f"[{current.flow}] outbox: " + " ".join(parts), flush=True)
    return newest


async def run_step(workflow: Any, step: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """One step of an SDK workflow (CreateHPR, CreateABHA): its registration_flow."""
    current.step = step.value
    current.payload = payload
    result = await workflow.registration_flow(step, payload)
    expect(isinstance(result, dict), f"{step.value} returned {type(result).__name__}, not a dict")
    return result


async def advance(workflow: Any, step: Any, payload: dict[str, Any], next_step: Any, *fields: str) -> dict[str, Any]:
    """run_step, logged under the step's name with `fields`; the step must lead to next_step."""
    result = await run_step(workflow, step, payload)
    log_step(step.name, result, *fields)
    expect(
        result["next_step"] == next_step.value,
        f"{step.name} next_step is {result['next_step']!r}",
    )
    return result


async def start_registration(workflow: Any, aadhaar: str, next_step: Any, *fields: str) -> dict[str, Any]:
    """The workflow's first step for aadhaar, logged with `fields`; it must lead to next_step."""
    current.step = "start_registration"
    current.payload = {"aadhaar": aadhaar}
    start = await workflow.start_registration(aadhaar)
    log_step("start_registration", start, *fields)
    expect(
        start["next_step"] == next_step.value,
        f"start_registration next_step is {start['next_step']!r}",
    )
    return start


def render_body(data: Any) -> str:
    if isinstance(data, httpx.Response):
        return f"HTTP {data.status_code} {data.text}"
    if isinstance(data, (dict, list)):
        return show(data)
    return repr(data)


def report_failure(exc: BaseException, payload_label: str = "request payload") -> None:
    """Print the failing step, its payload and the whole exception chain.

    payload_label names the payload line, e.g. to say it is shown before the
    SDK encrypts parts of it.
    """
    from carestack.base.errors import EhrApiError

    err = sys.stderr
    print(f"FAILED in flow '{current.flow}' at step {current.step}", file=err)
    if current.payload is not None:
        print(f"  {payload_label}: {show(current.payload)}", file=err)
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


def begin(workflow_name: str) -> None:
    """Set up logging and print the check's first line."""
    setup_logging()
    key = "the fixtures'" if API_KEY == FIXTURE_API_KEY else "its own"
    print(
        f"carestack {workflow_name} interop: API_URL={API_URL} SANDBOX_URL={SANDBOX_URL} API key={API_KEY} ({key})",
        flush=True,
    )


W = TypeVar("W")


async def run_flows(
    workflow_name: str,
    flows: list[tuple[str, Callable[[W], Awaitable[None]]]],
    open_workflow: Callable[[], W],
    close_workflow: Callable[[W], Awaitable[None]],
    payload_label: str = "request payload",
) -> int:
    """Run each (name, flow) on a fresh SDK workflow, within FLOW_TIMEOUT_S.

    Stops at the first failure, reporting it, and returns the exit status:
    0 when every flow passed, 1 otherwise. The workflow's HTTP client is
    closed after each flow, whether it passed or not.
    """
    passed = 0
    for name, flow in flows:
        current.flow, current.step, current.payload = name, "", None
        workflow = open_workflow()
        try:
            await asyncio.wait_for(flow(workflow), timeout=FLOW_TIMEOUT_S)
        except asyncio.TimeoutError:
            report_failure(InteropFailure(f"flow did not finish within {FLOW_TIMEOUT_S:.0f} s"), payload_label)
            return 1
        except Exception as exc:  # noqa: BLE001  (every failure is reported)
            report_failure(exc, payload_label)
            return 1
        finally:
            await close_workflow(workflow)
        passed += 1
        print(f"[{name}] passed", flush=True)
    print(f"carestack {workflow_name} interop: {passed} flows passed", flush=True)
    return 0
