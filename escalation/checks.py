"""Deployment checks: the audit trail's secrets."""

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def check_audit_secrets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The signing key is needed; the seed only to start the chain and verify.

    Without the seed the web tier still appends (from the chain's state)
    and the audit screen still checks order, links and checkpoints; the
    MACs are then checked where the seed is kept (``verify_audit``).
    """
    from escalation.audit import get_seed, get_signing_key

    messages: list[CheckMessage] = []
    try:
        get_signing_key()
    except ImproperlyConfigured as error:
        messages.append(
            Error(str(error), hint="See docs/deployment.md.", id="escalation.E001")
        )
    try:
        get_seed()
    except ImproperlyConfigured:
        messages.append(
            Warning(
                "AUDIT_CHAIN_SEED is not set: the chain cannot start here, and "
                "the audit screen will not check the MACs.",
                hint="Set it until the first audited action; keep it with "
                "whoever runs verify_audit (docs/deployment.md).",
                id="escalation.W001",
            )
        )
    return messages
