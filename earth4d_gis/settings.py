"""Documented, checked dataclass fields: a setting's default, help text, valid values and group in one place.

``TrainConfig`` declares its fields with ``setting(...)``; ``check_settings`` validates an instance from
them, naming the parameter as ``errors`` asks (``epochs=0 must be at least 1``); the command line builds its
options from the same fields (``earth4d_gis_cli.field_options``), so a new field needs no second copy of its
help or default. Help texts name other settings as ````name````, which each front end spells its own way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Check:
    """A rule a setting's value must follow, and how a message says it."""

    ok: Callable[[Any], bool]
    says: str

    def holds(self, value: Any) -> bool:
        """Whether ``value`` follows the rule (a value of the wrong type does not)."""
        try:
            return bool(self.ok(value))
        except TypeError:
            return False


AT_LEAST_ONE = Check(lambda v: v >= 1, "must be at least 1")
POSITIVE = Check(lambda v: v > 0, "must be positive")
NOT_NEGATIVE = Check(lambda v: v >= 0, "must not be negative")
FRACTION = Check(lambda v: 0.0 < v < 1.0, "must lie strictly between 0 and 1")
PROBABILITY_BELOW_ONE = Check(lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)")


def setting(
    default: Any,
    help: str,
    *,
    group: str,
    check: Check | None = None,
    choices: Sequence[str] | None = None,
    option: bool = True,
    **presentation: Any,
) -> Any:
    """A dataclass field carrying its documentation and rules.

    ``group``: the section it belongs to (the CLI's help sections); ``check`` / ``choices``: what
    ``check_settings`` enforces (``None`` is always allowed where it is the default); ``option=False``: a
    Python-only setting (no command-line option). ``presentation`` is for front ends and means nothing to
    the core: ``flag`` (another spelling), ``metavar``, ``scale`` (the option's value times this is the
    field's: minutes on the command line, seconds here), ``none_word`` (what an option calls ``None``).
    """
    metadata = {"help": help, "group": group, "check": check, "choices": choices, "option": option}
    return dataclasses.field(default=default, metadata={**metadata, **presentation})


def check_settings(instance: Any) -> None:
    """Raise ``InputError`` naming the first field of ``instance`` whose value breaks its ``check`` or
    ``choices`` (as ``name=value``)."""
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if value is None and field.default is None:
            continue
        choices = field.metadata.get("choices")
        if choices is not None and value not in choices:
            allowed = ", ".join(choices) + (" (or None)" if field.default is None else "")
            raise InputError(f"{field.name}={_spell(value)} is not one of {allowed}")
        check = field.metadata.get("check")
        if check is not None and not check.holds(value):
            raise InputError(f"{field.name}={_spell(value)} {check.says}")


def _spell(value: Any) -> str:
    """A value as a message quotes it: strings quoted, numbers and tuples plain (``1.5``, ``(64, 0)``)."""
    return repr(value) if isinstance(value, str) else str(value)
