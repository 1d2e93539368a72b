"""What the function reads once, at import: its logger and its settings (the template's environment)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from provisioner_core.config import Settings

logger = Logger()
SETTINGS = Settings.from_env()
