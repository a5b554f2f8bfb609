"""What a flow step says: questions with buttons, confirmations, answers with cards."""

from __future__ import annotations

from kefu.dialogue.choices import as_options, build_choices
from kefu.dialogue.flow_model import Step, render
from kefu.dialogue.texts import text
from kefu.dialogue.tracker import DialogueState
from kefu.domain.replies import CardReply, Option, OptionsReply, Reply, TextReply


def ask_replies(state: DialogueState, step: Step, *, first: bool) -> list[Reply]:
    """A collect step's question; its buttons when it has any. A re-ask without buttons
    adds nothing (the re-ask text was said already)."""
    lang = state.lang
    ask = render(step.ask.get(lang), state.slots) if step.ask else ""
    opts: tuple[Option, ...] = ()
    if step.options_from:
        opts = as_options(step, build_choices(step, state.slots, lang))
    elif step.options:
        opts = static_options(step, lang)
    if opts:
        return [OptionsReply(text=ask, options=opts, id=step.id, multi=step.multi)]
    return [TextReply(text=ask)] if first else []


def static_options(step: Step, lang: str) -> tuple[Option, ...]:
    return tuple(
        Option(id=f"{step.id}-{i}", label=o.label.get(lang), payload=dict(o.payload))
        for i, o in enumerate(step.options)
    )


def confirm_reply(state: DialogueState, frame_id: str, step: Step) -> Reply:
    lang = state.lang
    summary = render(step.confirm.get(lang), state.slots) if step.confirm else ""
    return OptionsReply(
        text=summary,
        id=f"confirm-{frame_id}",
        options=(
            Option(id=f"{step.id}-yes", label=text("yes", lang), payload={"confirm": True}),
            Option(id=f"{step.id}-no", label=text("no", lang), payload={"confirm": False}),
        ),
    )


def answer_replies(state: DialogueState, step: Step) -> list[Reply]:
    out: list[Reply] = []
    if step.answer is not None:
        out.append(TextReply(text=render(step.answer.get(state.lang), state.slots)))
    if step.card is not None:
        data = state.slots.get(step.card)
        if isinstance(data, dict):
            out.append(CardReply(kind=step.card_kind or step.card, data=data))
    if step.options:
        out.append(OptionsReply(text="", options=static_options(step, state.lang), id=step.id))
    return out
