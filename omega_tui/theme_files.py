"""Themes from TOML files: the bundled `themes/` folder, then the user's.

A theme file holds the fields of `textual.theme.Theme` (name, primary, error,
warning, success, background, ...) and an optional `[variables]` table. The
bundled themes live in the repo's `themes/` (a checkout) or in
`omega_tui/themes/` (an installed wheel); users add or override themes in
`<user config dir>/themes/*.toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from omega_tui.config import user_config_dir

_COLOUR_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent",
                  "foreground", "background", "surface", "panel", "boost")
_OTHER_FIELDS = {"name": str, "dark": bool, "luminosity_spread": (int, float), "text_alpha": (int, float),
                 "variables": dict}


class ThemeError(Exception):
    """A theme file that cannot be used; the message says which and why."""


def bundled_theme_dir() -> Path:
    """The themes shipped with omega-tui: packaged inside omega_tui, or the repo's themes/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "themes", here.parent / "themes"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("theme directory themes/ not found")


def user_theme_dir() -> Path:
    return user_config_dir() / "themes"


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"theme file {path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(f"theme file {path}: {exc}") from None
    unknown = set(data) - set(_COLOUR_FIELDS) - set(_OTHER_FIELDS)
    if unknown:
        raise ThemeError(f"theme file {path}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ThemeError(f"theme file {path}: 'name' is required")
    if not isinstance(data.get("primary"), str):
        raise ThemeError(f"theme file {path}: 'primary' is required")
    for key, kind in _OTHER_FIELDS.items():
        if key in data and (not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool))):
            raise ThemeError(f"theme file {path}: '{key}' has the wrong type")
    for key in _COLOUR_FIELDS:
        if key in data:
            _check_colour(path, key, data[key])
    variables = data.get("variables", {})
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeError(f"theme file {path}: variable '{key}' must be a string")
    return Theme(**data)


def _check_colour(path: Path, key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ThemeError(f"theme file {path}: '{key}' must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"theme file {path}: '{key}' is not a colour: {value!r}") from None


def load_themes(
    directories: list[Path] | None = None, warn: Callable[[str], None] | None = None
) -> dict[str, Theme]:
    """Themes by name, later directories overriding earlier ones; bad user files are skipped with a warning."""
    if directories is None:
        directories = [bundled_theme_dir(), user_theme_dir()]
    themes: dict[str, Theme] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                if warn is None:
                    raise
                warn(str(exc))
                continue
            themes[theme.name] = theme
    return themes


def unknown_theme(name: str, known) -> ThemeError:
    return ThemeError(f"unknown theme '{name}' (known: {', '.join(sorted(known))})")


def check_theme_name(name: str) -> None:
    """Raises ThemeError when no theme is called `name`: Textual's own, bundled or the user's (the
    console checks before it polls, so that a mistyped --theme reads nothing)."""
    unusable: list[str] = []   # user theme files that could not be loaded: the one meant may be among them
    known = set(BUILTIN_THEMES) | set(load_themes(warn=unusable.append))
    if name not in known:
        error = unknown_theme(name, known)
        raise ThemeError("; ".join([str(error), *unusable])) if unusable else error
