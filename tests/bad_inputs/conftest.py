"""The battery's fixtures live in ``battery.py`` with its checks; pytest finds them through this file."""

from bad_inputs.battery import inputs, work  # noqa: F401
