"""How a movement decides: its settings checked from text (a form or the command line) and saved."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from models import utcnow
from models.decision import MovementSettings, settings_of


def parse_settings(quorum, threshold, duration, require_mandate, hide_results) -> dict:
    """Checked settings from text (form or command line); Refusal(400) for a value out of range."""
    values: dict = {}
    for key, raw in (("quorum", quorum), ("threshold", threshold)):
        if raw in (None, ""):
            continue
        try:
            number = float(str(raw).rstrip("%")) / (100 if str(raw).endswith("%") else 1)
        except ValueError:
            raise Refusal(400, f"{key} must be a number between 0 and 1 (or a percentage)") from None
        if not 0 <= number <= 1:
            raise Refusal(400, f"{key} must be between 0 and 1 (or 0% and 100%)")
        values[key] = number
    if duration not in (None, ""):
        try:
            values["duration_hours"] = int(str(duration))
        except ValueError:
            raise Refusal(400, "the default duration must be a whole number of hours") from None
        if not 1 <= values["duration_hours"] <= 24 * 365:
            raise Refusal(400, "the default duration must be between 1 hour and a year")
    for key, raw in (("require_mandate", require_mandate), ("hide_results", hide_results)):
        if raw in (None, ""):
            continue
        if str(raw).lower() not in ("yes", "no"):
            raise Refusal(400, f"{key.replace('_', '-')} is yes or no")
        values[key] = str(raw).lower() == "yes"
    return values


async def save_settings(session: AsyncSession, movement_id: int, values: dict) -> MovementSettings:
    settings = await session.get(MovementSettings, movement_id)
    if settings is None:
        settings = await settings_of(session, movement_id)
        session.add(settings)
    for key, value in values.items():
        setattr(settings, key, value)
    settings.updated_at = utcnow()
    await session.flush()
    return settings
