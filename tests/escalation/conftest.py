import pytest


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    """Give each test its own checkpoint folder, outside the database."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    return settings.AUDIT_CHECKPOINT_DIR
