"""Reading identity proof from one message: e-mail, phone, or name + zip code.

Customers answer "how can I verify you?" in one line: "张三 100020", "I'm Yusuf Rossi,
zip 19122", "yusuf.rossi@example.com", "13812345678". The `parse_identity` action turns it
into the slots the shop's verify_customer action reads.
"""

from __future__ import annotations

import re

from kefu.dialogue.actions import ActionContext, ActionResult
from kefu.domain.types import JsonValue

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?!\d)")
_ZIP = re.compile(r"(?<!\d)(\d{5,6})(?!\d)")
_FILLER_ZH = re.compile(r"(我叫|我是|名字是|名字叫|姓名是?|邮编是?|邮政编码是?|我的|和|是)")
_STOP_EN = frozenset(
    {
        "my", "name", "is", "i", "am", "im", "i'm", "this", "the", "zip", "code",
        "postcode", "postal", "and", "in", "it's", "its", "here",
    }
)  # fmt: skip
_NAME_CHARS = re.compile(r"[A-Za-z][A-Za-z'.-]*|[\u4e00-\u9fff]{2,4}")


def parse_identity_text(text: str) -> dict[str, JsonValue]:
    """{email} or {phone} or {name, zip} (whatever the text holds); empty when nothing."""
    out: dict[str, JsonValue] = {}
    email = _EMAIL.search(text)
    if email:
        out["email"] = email.group(0).lower()
        text = text.replace(email.group(0), " ")
    phone = _PHONE.search(text)
    if phone:
        out["phone"] = re.sub(r"[- ]", "", phone.group(1))
        text = text.replace(phone.group(0), " ")
    zip_code = _ZIP.search(text)
    if zip_code:
        out["zip"] = zip_code.group(1)
        text = text.replace(zip_code.group(0), " ")
    if "zip" in out:  # a name only counts together with a zip code
        rest = _FILLER_ZH.sub(" ", text)
        words = [w for w in _NAME_CHARS.findall(rest) if w.lower() not in _STOP_EN]
        if words:
            out["name"] = " ".join(words[:3])
    return out


async def parse_identity(ctx: ActionContext) -> ActionResult:
    """`with: {text: SLOT}` -> data {email?, phone?, name?, zip?}; status `empty` if none."""
    raw = ctx.slots.get(str(ctx.params.get("text", "identity_text")))
    found = parse_identity_text(raw) if isinstance(raw, str) else {}
    return ActionResult(status="ok" if found else "empty", data=found)


async def counter(ctx: ActionContext) -> ActionResult:
    """`with: {slot: NAME, limit: N}`: the slot's number plus one as `value`; status `limit`
    once it reaches N (for bounded retry loops)."""
    current = ctx.slots.get(str(ctx.params.get("slot", "")))
    n = (current if isinstance(current, int) and not isinstance(current, bool) else 0) + 1
    limit = ctx.params.get("limit")
    reached = isinstance(limit, int) and n >= limit
    return ActionResult(status="limit" if reached else "ok", data={"value": n})
