"""Fidelius in Python: `abdm-ecdh` 1.1.0 (PyPI; pure-Python curve arithmetic, `cryptography` for
HKDF and AES-GCM), measured on one thread the way bench/java/FideliusBench.java measures the
reference jar. bench/run installs the package into a virtualenv; `abdm-bench suite` runs this.

    python fidelius_bench.py BUNDLE WARMUP_SECONDS SECONDS

Encrypt, as a HIP does for every transfer: a fresh key pair and nonce, then ECDH + HKDF +
AES-GCM of BUNDLE for one HIU's raw public key. Decrypt, as the HIU does: each of the
ciphertexts made above (every one from its own sender key), in turn. Prints one JSON line.
"""

import json
import sys
import time
from importlib.metadata import version

from abdm_ecdh import decrypt, encrypt, generate_key_material

POOL = 16


def seal(text, hiu):
    """A fresh sender key pair and nonce, and `text` encrypted for the HIU."""
    hip = generate_key_material()
    data = encrypt(
        string_to_encrypt=text,
        sender_nonce=hip.nonce,
        requester_nonce=hiu.nonce,
        sender_private_key=hip.private_key,
        requester_public_key=hiu.public_key,
    ).encrypted_data
    return data, hip.public_key, hip.nonce


def open_(sealed, hiu):
    """The HIU's decryption of one sealed entry."""
    data, key, nonce = sealed
    return decrypt(
        encrypted_data=data,
        sender_nonce=nonce,
        requester_nonce=hiu.nonce,
        requester_private_key=hiu.private_key,
        sender_public_key=key,
    ).decrypted_data


def measure(seconds, op):
    """Runs op(i) for `seconds`: operations, wall seconds and this process's CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    while True:
        op(n)
        n += 1
        if time.perf_counter() - t0 >= seconds:
            break
    return {
        "operations": n,
        "seconds": time.perf_counter() - t0,
        "processCpuSeconds": time.process_time() - c0,
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    warmup, seconds = float(sys.argv[2]), float(sys.argv[3])
    hiu = generate_key_material()
    pool = [seal(text, hiu) for _ in range(POOL)]
    for sealed in pool:
        if open_(sealed, hiu) != text:
            raise SystemExit("a ciphertext did not decrypt to the bundle")
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        open_(seal(text, hiu), hiu)

    def check(i):
        if len(open_(pool[i % POOL], hiu)) != len(text):
            raise SystemExit("decrypted to another length")

    enc = measure(seconds, lambda i: seal(text, hiu))
    dec = measure(seconds, check)
    print(json.dumps({
        "encrypt": enc,
        "decrypt": dec,
        "bytes": len(text.encode("utf-8")),
        "python": sys.version.split()[0],
        "abdmEcdh": version("abdm-ecdh"),
        "cryptography": version("cryptography"),
    }))


if __name__ == "__main__":
    main()
