"""Click options built from a settings dataclass (``earth4d_gis.settings``), and help in sections.

Each field declared with ``setting(...)`` becomes one option: ``--field-name`` (or the field's ``flag``),
its type from the annotation or ``choices``, its default, help text and help section from the field. The
option's parameter name is the field name, so ``config_from_options`` builds the dataclass generically and
``options.flag_spelling`` turns the core's ``field=value`` messages into the option's spelling.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .options import FLOAT, INT_LIST, OneLineCommand

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_REFERENCE = re.compile(r"``([a-z][a-z0-9_.]*)``")
"""How a setting's help names another setting (or a module): ````time_limit````."""


_NAME_COLUMN = 30
"""Width of the option-name column of ``--help`` (click's): one alignment for every section."""


class SectionedOption(click.Option):
    """An option listed under a heading (``section``) in ``--help``."""

    def __init__(self, *args: Any, section: str = "Options", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section


class FieldOption(SectionedOption):
    """An option that sets the dataclass field of its name: ``scale`` (field value = option value times
    this) and ``none_word`` (the option's word for ``None``) come from the field's metadata."""

    def __init__(
        self, *args: Any, scale: float | None = None, none_word: str | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.scale, self.none_word = scale, none_word

    def field_value(self, value: Any) -> Any:
        """The field's value for the option's parsed ``value``."""
        if self.none_word is not None and value == self.none_word:
            return None
        if self.scale is not None and value is not None:
            return float(value) * self.scale
        return value


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that have a command-line option (not ``option=False``), in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("option", False)]


def field_options(cls: type) -> Callable[[F], F]:
    """A decorator adding one ``FieldOption`` per option field of ``cls``, in field order, where it stands
    among the command's other option decorators."""
    hints = typing.get_type_hints(cls)
    built = [_field_option(field, hints[field.name]) for field in option_fields(cls)]

    def apply(func: F) -> F:
        if not hasattr(func, "__click_params__"):
            func.__click_params__ = []  # type: ignore[attr-defined]
        func.__click_params__.extend(reversed(built))  # type: ignore[attr-defined]  # click reverses them
        return func

    return apply


def config_from_options(command: click.Command, cls: type[T], params: dict[str, Any]) -> T:
    """``cls`` built from the ``FieldOption`` values in ``params`` (taken out of it); the rest stays."""
    values = {
        p.name: p.field_value(params.pop(p.name))
        for p in command.params
        if isinstance(p, FieldOption) and p.name in params
    }
    return cls(**values)


def help_text(text: str, command: click.Command) -> str:
    """A setting's help as ``command`` shows it: ````name```` becomes the option's flag (else ``name``)."""
    flags = {p.name: max(p.opts, key=len) for p in command.params if isinstance(p, click.Option)}
    return _REFERENCE.sub(lambda m: flags.get(m.group(1), f"`{m.group(1)}`"), text)


class SectionedCommand(OneLineCommand):
    """A ``OneLineCommand`` whose ``--help`` lists options under their ``section`` headings (in the order the
    sections first appear), with the settings' help references spelled as flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, FieldOption) and param.help:
                param.help = help_text(param.help, self)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(getattr(param, "section", "Options"), []).append(record)
        widest = min(
            max((len(name) for rows in sections.values() for name, _ in rows), default=0), _NAME_COLUMN
        )
        for title, records in sections.items():
            with formatter.section(title):
                formatter.write_dl(
                    [(name.ljust(widest), text) for name, text in records], col_max=_NAME_COLUMN
                )


def _field_option(field: dataclasses.Field, hint: Any) -> FieldOption:
    meta = field.metadata
    kind = _plain_type(hint)
    default = field.default
    dashed = field.name.replace("_", "-")
    settings: dict[str, Any] = {
        "help": meta["help"],
        "section": meta["group"],
        "scale": meta.get("scale"),
        "none_word": meta.get("none_word"),
        "show_default": default is not None,
    }
    if kind is bool:
        flag = meta.get("flag") or (f"--{dashed}/--no-{dashed}" if default else f"--{dashed}")
        return FieldOption([flag, field.name], is_flag=True, default=default, **settings)
    if meta.get("choices") is not None:
        words = [meta["none_word"]] if meta.get("none_word") else []
        settings["type"] = click.Choice([*words, *meta["choices"]])
    else:
        settings["type"] = _CLICK_TYPES[kind]
    if default is None and meta.get("none_word"):
        default, settings["show_default"] = meta["none_word"], True
    elif default is not None and meta.get("scale"):
        default = default / meta["scale"]
    if isinstance(default, tuple):
        default, settings["metavar"] = ",".join(str(item) for item in default), "INT,INT,..."
    if meta.get("metavar"):
        settings["metavar"] = meta["metavar"]
    return FieldOption([meta.get("flag") or f"--{dashed}", field.name], default=default, **settings)


def _plain_type(hint: Any) -> Any:
    """``int`` for ``int | None``, ``tuple`` for ``tuple[int, ...]``, the hint itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.get_origin(hint) or hint


_CLICK_TYPES: dict[Any, click.ParamType] = {
    int: click.INT,
    float: FLOAT,
    str: click.STRING,
    tuple: INT_LIST,
    Path: click.Path(file_okay=False, path_type=Path),
}
"""A field's annotation -> its option's type (``Path``: a folder, the only kind of path a setting is)."""
