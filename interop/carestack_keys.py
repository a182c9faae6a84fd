"""Carestack SDK interop check: the client's own API key under `serve --credentials fixtures`.

Run against a sandbox started with `--credentials fixtures`, which takes only the fixtures'
Carestack API keys: the SDK with the client's own key (SANDBOX_API_KEY, one the fixtures do not
know) is refused with 401 naming `Authorization`, which the SDK raises as EhrApiError, as a
wrong key is on the live API; the same call with the fixtures' key (sandbox-api-key) is
answered. interop/run runs the other checks with that same own key against the default
`serve` (credentials open), where it is taken.

One line per check. Environment: SANDBOX_URL, API_URL, SANDBOX_API_KEY (see sandbox_client.py).
Exit status 1 when any check failed.
"""

import asyncio
import sys

from sandbox_client import API_KEY, FIXTURE_API_KEY, begin, config, current, expect, report_failure, show

from carestack.base.errors import EhrApiError  # noqa: E402
from carestack.patient.patient_service import Patient  # noqa: E402


async def own_key_refused() -> None:
    expect(API_KEY != FIXTURE_API_KEY, "SANDBOX_API_KEY is unset or the fixtures' key: nothing to refuse")
    svc = Patient(config(API_KEY))
    try:
        got = await svc.find_all()
    except EhrApiError as e:
        expect(e.status_code == 401, f"refused with {e.status_code}, not 401: {e}")
        expect("Authorization" in str(e), f"the refusal does not name Authorization: {e}")
        print(f"ok   Patient.find_all with the own key {API_KEY}: 401 {str(e)[:110]}", flush=True)
        return
    finally:
        await svc.close()
    raise AssertionError(f"Patient.find_all with the own key {API_KEY} was answered: {show(got.model_dump())[:200]}")


async def fixture_key_taken() -> None:
    svc = Patient(config(FIXTURE_API_KEY))
    try:
        got = await svc.find_all()
    finally:
        await svc.close()
    expect(isinstance(got.request_resource, list), f"find_all answered {show(got.model_dump())[:200]}")
    print(f"ok   Patient.find_all with the fixtures' key {FIXTURE_API_KEY}: {len(got.request_resource)} patients", flush=True)


FLOWS = [("own key refused", own_key_refused), ("fixtures' key taken", fixture_key_taken)]


async def main() -> int:
    begin("API key (credentials fixtures)")
    failed = 0
    for name, flow in FLOWS:
        current.flow, current.step, current.payload = name, "Patient.find_all", None
        try:
            await asyncio.wait_for(flow(), timeout=30)
        except Exception as exc:  # noqa: BLE001  (every failure is reported)
            failed += 1
            print(f"FAIL {name}", flush=True)
            report_failure(exc)
    print(f"carestack API key interop: {len(FLOWS) - failed} of {len(FLOWS)} checks passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
