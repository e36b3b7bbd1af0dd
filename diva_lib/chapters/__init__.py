"""Each chapter's experiment as a library function: typed settings in, a typed result out.

A chapter module declares a `Settings` dataclass (profile defaults declared once with
`per_profile`, validated once by `Settings.resolve`) and a `run(settings)` returning a
`ChapterResult`: the settings table, the models table with their floors, named tables, the
claims with their verdicts, and the JSON it saves. Notebooks call these and show what they return.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from diva_lib import claims, config, report
from diva_lib.floors import ModelsTable

PROFILE_COLUMN = {"smoke": 0, "default": 1, "paper": 2}


@dataclass(frozen=True)
class ByProfile:
    """A default that depends on the profile: (smoke, default, paper)."""

    smoke: Any
    default: Any
    paper: Any

    def pick(self, profile: str) -> Any:
        """The value for a profile."""
        return (self.smoke, self.default, self.paper)[PROFILE_COLUMN[profile]]


def per_profile(smoke: Any, default: Any, paper: Any) -> Any:
    """A dataclass field whose default depends on the profile (resolved by `ChapterSettings.resolve`)."""
    return field(default=ByProfile(smoke, default, paper))


def _check(name: str, value: Any, hint: Any) -> Any:
    """Validate one parameter against its annotation; a `ParameterError` names the value and the fix."""
    origin = typing.get_origin(hint)
    if hint is int:
        return config.check_positive_int(name, value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise config.ParameterError(f"parameter {name!r}={value!r} must be a number >= 0")
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise config.ParameterError(f"parameter {name!r}={value!r} must be True or False")
    if origin is tuple and typing.get_args(hint)[0] is str and name.endswith("archs"):
        return tuple(config.check_archs(value, name))
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not value:
            raise config.ParameterError(f"parameter {name!r}={value!r} must be a non-empty list")
        return tuple(_check(name, v, inner) for v in value)
    return value


@dataclass(frozen=True)
class ChapterSettings:
    """Parameters every chapter takes; subclasses add theirs (with `per_profile` defaults)."""

    profile: str = "default"
    seed: int = 0

    @classmethod
    def resolve(cls, profile: str = "default", seed: int = 0, **params: Any) -> typing.Self:
        """Settings of a profile with the given parameters (None: the profile's default), validated.

        Example:
            >>> Settings.resolve("smoke", seed=0, n_eval=None)  # doctest: +SKIP
        """
        config.get_profile(profile)
        config.check_seed(seed)
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)} - {"profile", "seed"}
        unknown = set(params) - names
        if unknown:
            raise config.ParameterError(f"parameter(s) {sorted(unknown)} unknown; this chapter takes {sorted(names)}")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in ("profile", "seed"):
                continue
            value = params.get(f.name)
            default = f.default.pick(profile) if isinstance(f.default, ByProfile) else f.default
            values[f.name] = default if value is None else _check(f.name, value, _unwrap(hints[f.name]))
        settings = cls(profile=profile, seed=seed, **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Checks that involve several parameters (a `ParameterError` names them)."""

    @property
    def stand_in(self) -> bool:
        """Whether this run uses stand-in data instead of the paper's."""
        return self.profile != "paper"


@dataclass(frozen=True)
class ArchSettings(ChapterSettings):
    """Settings of a chapter that runs on several architectures (its `archs` field)."""

    @property
    def cfg(self) -> config.Profile:
        """The run's profile with this chapter's architectures."""
        return config.get_profile(self.profile, archs=list(self.archs))


def _unwrap(hint: Any) -> Any:
    """`X | None` → X."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and args else hint


@dataclass
class ChapterResult:
    """What a chapter measured: settings, models and floors, tables, claims with verdicts, and its JSON."""

    name: str
    profile: str
    settings: pd.DataFrame
    models: ModelsTable
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    claims: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)  # what figures need (not saved)

    def show(self, name: str) -> None:
        """Display one table in full, without an index column: "settings", "models", "claims" or a named table."""
        frames = {"settings": self.settings, "models": self.models.frame(), "claims": claims.table(self.claims)}
        report.show(frames[name] if name in frames else self.tables[name], claims.WIDTHS if name == "claims" else None)

    def save(self) -> str:
        """Write `results/<profile>/<name>.json` (models, claims and data); return its path inside the project."""
        path = report.save_json({**self.data, "profile": self.profile, "models_table": self.models.records(),
                                 "claims": self.claims}, report.results_path(self.profile, self.name))
        return f"results/{self.profile}/{path.name}"
