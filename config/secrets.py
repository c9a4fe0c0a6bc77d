"""Generate the demo's secrets into an untracked local file.

Usage: ``python -m config.secrets var/secrets.env``. The file is written once
(never overwritten) with mode 0600; settings read it only for variables the
environment does not set. Production sets every secret in the environment.
"""

import base64
import os
import secrets
import sys
from pathlib import Path


def generate_secrets() -> dict[str, str]:
    """Return fresh values for every secret the platform reads."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CHANNEL_LAYER_KEYS": secrets.token_urlsafe(32),
        "MESSAGE_KEYS": "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # Day-0 key of the audit chain and the checkpoint signing key
        # (escalation/audit.py).
        "AUDIT_CHAIN_SEED": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AUDIT_SIGNING_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }


def write_secrets_file(path: Path) -> bool:
    """Write a new secrets file at ``path``; return False if one exists.

    An existing file only gains the variables it lacks (a secret added by
    a later version), appended: no existing value is ever replaced.
    """
    if path.exists():
        present = {
            line.partition("=")[0].strip()
            for line in path.read_text().splitlines()
            if "=" in line
        }
        missing = {
            name: value
            for name, value in generate_secrets().items()
            if name not in present
        }
        if missing:
            with path.open("a") as handle:
                handle.writelines(
                    f"{name}={value}\n" for name, value in missing.items()
                )
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={value}" for name, value in generate_secrets().items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "var/secrets.env")
    if write_secrets_file(target):
        print(f"Wrote new demo secrets to {target}")
