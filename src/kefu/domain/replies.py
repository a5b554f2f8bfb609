"""What the bot says in one turn: text, option buttons, cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from kefu.domain.types import JsonValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    id: str
    label: str
    payload: dict[str, JsonValue] = field(default_factory=dict)

    def to_wire(self) -> dict[str, JsonValue]:
        return {"id": self.id, "label": self.label, "payload": self.payload}


@dataclass(frozen=True, slots=True, kw_only=True)
class TextReply:
    text: str

    def to_wire(self) -> dict[str, JsonValue]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionsReply:
    text: str
    options: tuple[Option, ...]
    id: str | None = None
    multi: bool = False

    def to_wire(self) -> dict[str, JsonValue]:
        wire: dict[str, JsonValue] = {
            "type": "options",
            "text": self.text,
            "options": [o.to_wire() for o in self.options],
        }
        if self.id is not None:
            wire["id"] = self.id
        if self.multi:
            wire["multi"] = True
        return wire


@dataclass(frozen=True, slots=True, kw_only=True)
class CardReply:
    kind: str
    data: dict[str, JsonValue]

    def to_wire(self) -> dict[str, JsonValue]:
        return {"type": "card", "kind": self.kind, "data": self.data}


Reply: TypeAlias = TextReply | OptionsReply | CardReply


def reply_from_wire(wire: dict[str, JsonValue]) -> Reply:
    """Rebuild a reply stored in a BotUttered event."""
    kind = wire.get("type")
    if kind == "text":
        return TextReply(text=str(wire["text"]))
    if kind == "options":
        raw_opts = wire.get("options")
        opts: list[Option] = []
        if isinstance(raw_opts, list):
            for o in raw_opts:
                if isinstance(o, dict):
                    payload = o.get("payload")
                    opts.append(
                        Option(
                            id=str(o["id"]),
                            label=str(o["label"]),
                            payload=payload if isinstance(payload, dict) else {},
                        )
                    )
        rid = wire.get("id")
        return OptionsReply(
            text=str(wire.get("text", "")),
            options=tuple(opts),
            id=str(rid) if rid is not None else None,
            multi=bool(wire.get("multi", False)),
        )
    if kind == "card":
        data = wire.get("data")
        return CardReply(kind=str(wire["kind"]), data=data if isinstance(data, dict) else {})
    raise ValueError(f"unknown reply type {kind!r}")


def reply_text(reply: Reply) -> str:
    """The readable text of a reply, for history and transcripts."""
    if isinstance(reply, TextReply | OptionsReply):
        return reply.text
    return f"[{reply.kind}]"
