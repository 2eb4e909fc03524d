"""The instance's own words, set by its admins on the web: title, description, rules, and how people join."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from federation.refusal import Refusal
from models.setting import get_setting, set_setting

SIGNUP_MODES = {
    "invite": "by invitation only",
    "approval": "anyone may ask to join a movement; an admin approves",
}
LIMITS = {"title": 100, "description": 2000, "rules": 5000}
PREFIX = "instance."


@dataclass
class InstanceInfo:
    title: str
    description: str
    rules: str
    signup: str

    @property
    def open_signup(self) -> bool:
        return self.signup == "approval"


async def instance_info(session: AsyncSession, settings) -> InstanceInfo:
    """What the admins set, falling back on config.toml's title and description."""
    values = {
        key: await get_setting(session, PREFIX + key) for key in ("title", "description", "rules", "signup")
    }
    extra = settings.extra or {}
    return InstanceInfo(
        title=values["title"] or extra.get("title") or settings.host,
        description=values["description"]
        if values["description"] is not None
        else extra.get("description", ""),
        rules=values["rules"] or "",
        signup=values["signup"] if values["signup"] in SIGNUP_MODES else "invite",
    )


async def save_instance_info(
    session: AsyncSession, title: str, description: str, rules: str, signup: str
) -> None:
    fields = {"title": title.strip(), "description": description.strip(), "rules": rules.strip()}
    for key, value in fields.items():
        if len(value) > LIMITS[key]:
            raise Refusal(400, f"The {key} may have at most {LIMITS[key]} characters.")
    if not fields["title"]:
        raise Refusal(400, "The instance needs a title.")
    if signup not in SIGNUP_MODES:
        raise Refusal(400, "Choose how people join: by invitation, or asking with approval.")
    for key, value in {**fields, "signup": signup}.items():
        await set_setting(session, PREFIX + key, value)
