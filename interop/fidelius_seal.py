"""Fidelius's symmetric half, given the ECDH shared secret as bytes: HKDF-SHA256 (salt the first
20 bytes of the XOR of the two 32-byte nonces, no info, 32 bytes out) keys AES-256-GCM (IV the
last 12 bytes of that XOR, 128-bit tag appended), as fidelius-cli does. interop/hip_dataflow.py
uses it to seal with a secret whose leading zero byte was dropped, which the reference jar cannot
be made to do, and checks it against the jar with the secret intact.

Run by the interop virtualenv's python (it needs the `cryptography` package):
  stdin   {"secret": HEX, "senderNonce": B64, "requesterNonce": B64, "plaintext": TEXT}
  stdout  {"encryptedData": B64}
"""

from __future__ import annotations

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def seal(secret: bytes, sender_nonce: str, requester_nonce: str, plaintext: str) -> str:
    """The base64 ciphertext and tag of `plaintext` under the session key of `secret`."""
    ours, theirs = base64.b64decode(sender_nonce), base64.b64decode(requester_nonce)
    if len(ours) != 32 or len(theirs) != 32:
        raise ValueError("each nonce must be 32 bytes")
    xor = bytes(a ^ b for a, b in zip(ours, theirs))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=xor[:20], info=None).derive(secret)
    return base64.b64encode(AESGCM(key).encrypt(xor[20:], plaintext.encode("utf-8"), None)).decode()


def main() -> int:
    """Reads one job from stdin, prints its ciphertext; 1 when the job is malformed."""
    try:
        job = json.load(sys.stdin)
        sealed = seal(bytes.fromhex(job["secret"]), job["senderNonce"], job["requesterNonce"], job["plaintext"])
    except (ValueError, KeyError, TypeError) as e:
        print(f"fidelius_seal: {e!r}", file=sys.stderr)
        return 1
    json.dump({"encryptedData": sealed}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
