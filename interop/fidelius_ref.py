"""What the Fidelius interop checks share (interop/fidelius, interop/hip_dataflow.py): the
reference fidelius-cli 1.2.0 jar, installed from PyPI into a virtualenv and run with `java`; an
arithmetic of BouncyCastle's curve25519 written here, independent of both the jar and the
sandbox, to find key pairs whose shared secret starts with a zero byte; and the counting of checks.

The jar ships in the PyPI package pyfidelius 0.0.4 (under pyfidelius/fidelius-cli-1.2.0/lib/).
Only that package is installed, into target/fidelius-interop/venv, and the jar is run directly
with `java` (the package's bin/ launcher has CRLF line endings). Java 17 is needed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import venv
from pathlib import Path

PYFIDELIUS = "pyfidelius==0.0.4"
JARS = ("fidelius-cli-1.2.0.jar", "gson-2.9.0.jar", "bcprov-jdk18on-1.71.jar")

# BouncyCastle's curve25519: short-Weierstrass y^2 = x^3 + ax + b over p = 2^255 - 19.
P = 2**255 - 19
A = 0x2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA984914A144
N = 0x1000000000000000000000000000000014DEF9DEA2F79CD65812631A5CF5D3ED
G = (
    0x2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD245A,
    0x20AE19A1B8A086B4E01EDD2C7748D14C923D4D7E6D7C61B229E9C5A27ECED3D9,
)


class Failed(Exception):
    """A check that did not hold."""


class Checks:
    """Counts passing checks and collects failures, so every check runs."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def run(self, name: str, fn) -> None:
        """Runs one check, `fn`, and prints its verdict; a failure is kept, not raised."""
        try:
            fn()
        except (Failed, subprocess.SubprocessError, ValueError, LookupError, TypeError) as e:
            self.failures.append(f"{name}: {e}")
            print(f"  FAIL {name}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"  ok   {name}", flush=True)

    def summary(self, title: str) -> int:
        """Prints the verdict of the whole run under `title`; the exit status (0 or 1)."""
        if self.failures:
            total = self.passed + len(self.failures)
            print(f"{title}: {len(self.failures)} of {total} checks FAILED:")
            for failure in self.failures:
                print(f"  {failure}")
            return 1
        print(f"{title}: {self.passed} checks passed")
        return 0


def expect(cond: bool, message: str) -> None:
    """Raises Failed with `message` unless `cond` holds."""
    if not cond:
        raise Failed(message)


# ---- the command-line tools -----------------------------------------------------------------


class Tool:
    """One Fidelius command line: gkm / e / d with fidelius-cli's argument orders and JSON."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = env

    def _run(self, *args: str) -> dict:
        out = subprocess.run(
            [*self.argv, *args], capture_output=True, text=True, encoding="utf-8", env=self.env, timeout=120
        )
        # fidelius-cli prints a stack trace and still exits 0 on bad input: judge by stdout.
        try:
            return json.loads(out.stdout)
        except json.JSONDecodeError:
            detail = (out.stderr or out.stdout).strip().splitlines()[:3]
            raise Failed(f"{self.name} {args[0]} gave no JSON (exit {out.returncode}): {detail}") from None

    def keygen(self) -> dict:
        """Fresh key material: privateKey, publicKey (raw), x509PublicKey, nonce."""
        keys = self._run("gkm")
        expect(
            list(keys) == ["privateKey", "publicKey", "x509PublicKey", "nonce"],
            f"{self.name} gkm fields {list(keys)}",
        )
        return keys

    def encrypt(self, text: str, sender_nonce: str, requester_nonce: str, sender_private: str, requester_public: str) -> str:
        """The sender's encryption of `text` for the requester, base64."""
        # sane-encrypt takes the text in base64, so no shell or argv charset can alter it.
        b64 = base64.b64encode(text.encode("utf-8")).decode()
        return self._run("se", b64, sender_nonce, requester_nonce, sender_private, requester_public)["encryptedData"]

    def decrypt(self, data: str, requester_nonce: str, sender_nonce: str, requester_private: str, sender_public: str) -> str:
        """The requester's decryption of `data` from the sender."""
        return self._run("d", data, requester_nonce, sender_nonce, requester_private, sender_public)["decryptedData"]


# ---- independent curve arithmetic (for the leading-zero search) -----------------------------


def point_add(p1, p2):
    """The sum of two points in affine coordinates (None is the point at infinity)."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + A) * pow(2 * y1, P - 2, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, P - 2, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def point_mul(k: int, point):
    """k times `point`, by double-and-add."""
    result = None
    for bit in bin(k)[2:]:
        result = point_add(result, result)
        if bit == "1":
            result = point_add(result, point)
    return result


def raw_point(text: str):
    """The point of a raw (88-character) or X.509 (412-character) public key."""
    der = base64.b64decode(text)
    raw = der[-65:]
    expect(raw[0] == 4, "public key does not end in an uncompressed point")
    return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")


def biginteger_bytes(d: int) -> bytes:
    """Java's BigInteger.toByteArray() for a positive d."""
    return d.to_bytes(d.bit_length() // 8 + 1, "big")


def leading_zero_sender(requester_public: str, x509_prefix: bytes) -> tuple[dict, bytes]:
    """A sender key pair whose shared x with the requester is below 2^248, and that x (32 bytes).
    The pair is in fidelius-cli's gkm form; its x509PublicKey is `x509_prefix` + the raw point."""
    q = raw_point(requester_public)
    d = secrets.randbelow(N // 2) + 1
    shared = point_mul(d, q)
    for _ in range(20_000):
        if shared[0] < 2**248:
            break
        d += 1
        shared = point_add(shared, q)
    else:
        raise Failed("no shared x below 2^248 in 20,000 tries")
    pub = point_mul(d, G)
    raw = b"\x04" + pub[0].to_bytes(32, "big") + pub[1].to_bytes(32, "big")
    keys = {
        "privateKey": base64.b64encode(biginteger_bytes(d)).decode(),
        "publicKey": base64.b64encode(raw).decode(),
        "x509PublicKey": base64.b64encode(x509_prefix + raw).decode(),
        "nonce": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    return keys, shared[0].to_bytes(32, "big")


# ---- set-up ---------------------------------------------------------------------------------


def find_binary(prog: str, repo_root: Path, caller_cwd: Path) -> Path:
    """The abdm-sandbox executable named by the first argument (default target/debug/abdm-sandbox):
    a relative path is tried from the caller's directory first, then from the repository root."""
    given = sys.argv[1] if len(sys.argv) > 1 else "target/debug/abdm-sandbox"
    path = Path(given)
    if not path.is_absolute():
        path = caller_cwd / path if len(sys.argv) > 1 and (caller_cwd / path).exists() else repo_root / path
    if not os.access(path, os.X_OK):
        sys.exit(f"{prog}: binary not found or not executable: {path} (build it with cargo build)")
    return path


def java_version() -> str | None:
    """The first line of `java -version`, or None when there is no working java."""
    try:
        version = subprocess.run(["java", "-version"], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    if version.returncode != 0:
        return None
    return (version.stderr.splitlines() or ["java"])[0]


def venv_python(repo_root: Path, prog: str) -> Path:
    """The interpreter of the interop virtualenv, which is (re)created when missing or broken."""
    env_dir = repo_root / "target" / "fidelius-interop" / "venv"
    python = env_dir / "bin" / "python"
    if not python.exists() or subprocess.run([python, "-c", ""], capture_output=True).returncode != 0:
        print(f"{prog}: creating virtualenv in {env_dir}", flush=True)
        venv.create(env_dir, clear=True, with_pip=True)
    return python


def pip_install(python: Path, prog: str, spec: str, deps: bool = False) -> None:
    """Installs `spec` (one pinned package, with its dependencies only when `deps`) into the
    virtualenv."""
    print(f"{prog}: installing {spec} from PyPI", flush=True)
    no_deps = [] if deps else ["--no-deps"]
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *no_deps, spec],
        check=True,
    )


def reference_jars(repo_root: Path, prog: str) -> list[str]:
    """Installs pyfidelius into the virtualenv (once) and returns the jar paths."""
    python = venv_python(repo_root, prog)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    lib = Path(site) / "pyfidelius" / "fidelius-cli-1.2.0" / "lib"
    if not all((lib / jar).is_file() for jar in JARS):
        # --no-deps: only the bundled jar is used, not the package's Python code.
        pip_install(python, prog, PYFIDELIUS)
    missing = [jar for jar in JARS if not (lib / jar).is_file()]
    if missing:
        sys.exit(f"{prog}: {PYFIDELIUS} did not provide {missing} under {lib}")
    return [str(lib / jar) for jar in JARS]


def reference_tool(jars: list[str]) -> Tool:
    """fidelius-cli run from its jars, with UTF-8 for its text."""
    java_env = dict(os.environ, LC_ALL="C.UTF-8")
    return Tool(
        "fidelius-cli",
        ["java", "-Dfile.encoding=UTF-8", "-cp", os.pathsep.join(jars), "com.mgrm.fidelius.FideliusApplication"],
        java_env,
    )
