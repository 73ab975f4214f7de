"""The one resolver of per-audit settings: which value applies, and where it came from.

Precedence, applied here and nowhere else, most specific first:

    call argument > ``@pytest.mark.igmu(...)`` > configuration (command line > pytest
    ini > ``[tool.igmu_audit]`` > YAML spec, already merged by ``load_config``) > the
    task's profile ``[tool.igmu_audit.profiles.<task>]`` > built-in default

Each setting is one row of ``SETTINGS`` saying which of those sources it reads, how a
call or marker value is checked and what its built-in default is; a new setting plugs
in by adding a row. Thresholds are rows too (``threshold=True``): their configuration
key is ``thresholds.<aspect>.<name>`` and they read task profiles; after resolution the
gate floor (``config/floor.py``) still bounds them. ``Resolved.source`` names the source
the way failure messages and the verdict record print it.

Why one module: the precedence used to be written in four places that disagreed (the
marker beat config for thresholds, config beat the marker for ``concept``, the Allure
story took the marker's concept and the attack audit ignored the marker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from igmu_audit.config.profiles import builtin_threshold
from igmu_audit.config.schema import FIELDS, TASKS, THRESHOLD_KEYS
from igmu_audit.config.thresholds import check_threshold, floor_error, looser
from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    from igmu_audit.config import AuditConfig

CALL = "call argument"
MARKER = "@pytest.mark.igmu"
DEFAULT = "built-in default"
#: CatIGMU tasks whose breaches are critical by default (a leak is harmful or a privacy breach)
CRITICAL_TASKS = frozenset({"concept", "identity"})
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")


@dataclass(frozen=True, slots=True)
class Resolved:
    """One setting's value and the source it came from (``"call argument"``, ...)."""

    value: Any
    source: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one audit looks settings up.

    Attributes:
        config: the merged configuration.
        marker: the test's ``@pytest.mark.igmu`` keywords (``{}`` outside pytest).
        nodeid: the test's node id, for messages (``None`` outside pytest).
        task: the audit's CatIGMU task (for profiles and built-in defaults).
        aspect: ``forgotten``, ``preserved`` or ``robust_to`` (for thresholds).
    """

    config: AuditConfig
    marker: Mapping[str, Any] = field(default_factory=dict)
    nodeid: str | None = None
    task: str | None = None
    aspect: str | None = None

    @property
    def marker_where(self) -> str:
        """How messages name a marker value's place."""
        return f"{MARKER} on {self.nodeid}" if self.nodeid else MARKER


Check = Callable[[str, str, Any], Any]
Default = Callable[[Scope], "Resolved | None"]


def _same(where: str, key: str, value: Any) -> Any:
    """No check here: the consumer validates (a detector object, ``max_seeds``)."""
    return value


def _field(key: str) -> Check:
    """The configuration schema's parser of ``key`` (typed sources: no quoted numbers)."""
    return FIELDS[key].parse


def _task(where: str, key: str, value: Any) -> Any:
    if value is not None and value not in TASKS:
        raise ConfigError(
            f"{where} {key}: expected one of {', '.join(TASKS)} but got {value!r}"
        )
    return value


def _severity(where: str, key: str, value: Any) -> str:
    """A severity name in any case, or an ``allure.severity_level`` member."""
    text = str(getattr(value, "value", value)).lower()
    if text not in SEVERITIES:
        raise ConfigError(
            f"igmu-audit: severity must be one of {', '.join(SEVERITIES)}, got {value!r} "
            f"({where} {key})"
        )
    return text


def _threshold(where: str, key: str, value: Any) -> float:
    return check_threshold(where, key, value)


def _config_default(key: str) -> Default:
    """The configuration's value of ``key`` (set by nobody: its schema default)."""

    def default(scope: Scope) -> Resolved:
        return Resolved(getattr(scope.config, key), DEFAULT)

    return default


def _constant(value: Any) -> Default:
    return lambda scope: Resolved(value, DEFAULT)


def _severity_default(scope: Scope) -> Resolved:
    value = "critical" if scope.task in CRITICAL_TASKS else "normal"
    return Resolved(
        value, DEFAULT if scope.task is None else f"{DEFAULT} ({scope.task})"
    )


def _threshold_default(name: str) -> Default:
    def default(scope: Scope) -> Resolved | None:
        found = builtin_threshold(scope.aspect or "", name, scope.task)
        if found is not None:
            return Resolved(found[0], found[1])
        if name == "confidence":  # the run-wide level, so the floor can weigh it too
            return Resolved(scope.config.confidence, DEFAULT)
        return None

    return default


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the table: a setting and the sources it reads.

    Attributes:
        name: the call keyword, marker keyword and threshold name.
        call: an assertion accepts it as a keyword argument.
        marker: ``@pytest.mark.igmu`` accepts it.
        config: the top-level configuration key it reads (``None``: none).
        threshold: a threshold: also ``thresholds.<aspect>.<name>``, task profiles and
            the built-in per-task defaults; the gate floor bounds it.
        check: validates a call or marker value: ``(where, key, value) -> value``.
        default: the built-in default (``None`` result: the setting stays unset).
    """

    name: str
    call: bool
    marker: bool
    config: str | None
    check: Check
    default: Default
    threshold: bool = False


def _threshold_row(name: str) -> Setting:
    top = "confidence" if name == "confidence" else None
    return Setting(name, True, True, top, _threshold, _threshold_default(name), True)


_THRESHOLDS = tuple(dict.fromkeys(k for keys in THRESHOLD_KEYS.values() for k in keys))

#: every per-audit setting (name, call, marker, config key, check, default)
SETTINGS: dict[str, Setting] = {
    row.name: row
    for row in (
        Setting("task", False, True, "task", _task, _config_default("task")),
        Setting("concept", True, True, "concept", _field("concept"), _constant("concept")),
        Setting("detector", True, True, "detector", _same, _config_default("detector")),
        Setting("seeds", True, True, "seeds", _field("seeds"), _config_default("seeds")),
        Setting("max_seeds", True, True, None, _same, _constant(None)),
        Setting("interval", True, True, "interval", _field("interval"), _config_default("interval")),
        Setting("csdr_aggregation", False, True, "csdr_aggregation", _field("csdr_aggregation"),
                _config_default("csdr_aggregation")),
        Setting("require_original", False, True, "require_original", _field("require_original"),
                _config_default("require_original")),
        Setting("family_wise", False, False, "family_wise", _field("family_wise"),
                _config_default("family_wise")),
        Setting("detector_card", False, True, "detector_card", _field("detector_card"),
                _config_default("detector_card")),
        Setting("require_card", False, True, "require_card", _field("require_card"),
                _config_default("require_card")),
        Setting("detector_margin", False, True, "detector_margin", _field("detector_margin"),
                _config_default("detector_margin")),
        Setting("severity", False, True, "severity", _severity, _severity_default),
        Setting("model_card", False, True, "model_card", _field("model_card"),
                _config_default("model_card")),
        Setting("blur_sensitive", False, True, "blur_sensitive", _field("blur_sensitive"),
                _config_default("blur_sensitive")),
        *(_threshold_row(name) for name in _THRESHOLDS),
    )
}  # fmt: skip


def marker_keys() -> tuple[str, ...]:
    """The keywords ``@pytest.mark.igmu`` accepts (checked before a test runs)."""
    return tuple(name for name, row in SETTINGS.items() if row.marker)


def resolve(name: str, scope: Scope, explicit: Any = None) -> Resolved | None:
    """The value of setting ``name`` by the documented precedence, with its source.

    ``explicit`` is the call argument (``None``: not given). A call or marker value is
    checked here (configured values were checked when read). A threshold is then
    bounded by the gate floor: a chosen value looser than it is a ``ConfigError``
    naming both sources; where only a built-in default applied, the floor replaces it.

    Raises:
        ConfigError: a bad call or marker value, or a value looser than the floor.
        KeyError: ``name`` is no setting (a bug in the caller).
    """
    row = SETTINGS[name]
    chosen = _chosen(row, scope, explicit)
    return _floored(row, scope, chosen) if row.threshold else chosen


def _chosen(row: Setting, scope: Scope, explicit: Any) -> Resolved | None:
    config = scope.config
    if explicit is not None:
        if not row.call:
            raise ConfigError(
                f"{row.name} is not a call argument (a bug in igmu-audit)"
            )
        return Resolved(row.check(CALL, row.name, explicit), CALL)
    if row.marker and row.name in scope.marker:
        value = row.check(scope.marker_where, row.name, scope.marker[row.name])
        return Resolved(value, MARKER)
    if row.threshold:
        table = config.thresholds.get(scope.aspect or "", {})
        if row.name in table:
            key = f"thresholds.{scope.aspect}.{row.name}"
            return Resolved(table[row.name], config.source_of(key))
    if row.config is not None and row.config in config.sources:
        return Resolved(getattr(config, row.config), config.source_of(row.config))
    if row.threshold:
        profile = config.task_profiles.get(scope.task or "", {})
        found = profile.get(scope.aspect or "", {})
        if row.name in found:
            where = f"pyproject.toml [tool.igmu_audit.profiles.{scope.task}]"
            return Resolved(float(found[row.name]), where)
    return row.default(scope)


def _floored(row: Setting, scope: Scope, chosen: Resolved | None) -> Resolved | None:
    """``chosen`` bounded by the gate floor (see ``config/floor.py``)."""
    floor = scope.config.floor_of(scope.aspect or "", row.name)
    if floor is None or (
        chosen is not None and not looser(row.name, chosen.value, floor[0])
    ):
        return chosen
    if chosen is None or chosen.source.startswith(DEFAULT):
        return Resolved(floor[0], floor[1])
    raise floor_error(row.name, chosen.value, chosen.source, *floor)


def json_value(value: Any) -> Any:
    """A resolved value as the verdict record can hold it (objects by their name)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    named = getattr(value, "name", None) or getattr(value, "__name__", None)
    return str(named or type(value).__name__)
