"""The statements of a bedside vitals POST, built once per process from the models' metadata.

Vitals are the write a ward makes most often (a set every 15 to 30 minutes per running infusion, more after an
alert), and issue #4 asks the POST to keep at least half the throughput of a bare Django view that inserts one
row. Through the ORM, most of the request's CPU went into compiling querysets (the infusion, its baseline, the
entry's INSERT and simple_history's INSERT of the history row, whose post_save also built a manager class on every
save), and each round trip to the database cost about as much again. Here each statement is generated once from
``_meta`` (so a new field on ``VitalSignsEntry`` or its history model is followed, or refused loudly, without
editing SQL) and each request only binds values. On PostgreSQL a request usually makes one statement:

- the baseline (the infusion's earliest set by ``taken_at``, clinical.md A5) is read once and then remembered by
  the process; the alerts are worked out against it in Python (``vitals_rules``);
- the write inserts the entry and its ``+`` history row, exactly as simple_history would write it, in a single
  statement (a data-modifying CTE, atomic without a transaction of its own), and only if the infusion's earliest
  set is still the remembered baseline. If another set has become the earliest meanwhile (a late entry, another
  nurse's first set), nothing is written and the service reads the baseline again and re-evaluates.

On other databases (the embedded SQLite default, one ward's load) the baseline is read on every request and the
entry is saved through the ORM, as everywhere else. No model signals are sent for the entry on the PostgreSQL path:
simple_history's post_save is the only receiver, and the history row is written here instead;
``tests/infusions/test_vitals_sql.py`` holds both paths to the same rows.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from infusions import vitals_rules
from infusions.models import Infusion, VitalSignsEntry

# The columns simple_history adds to a copy of the model's own (history_id is its serial key).
HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")
HISTORY_CREATED = "+"
# The baseline's vital signs: what vitals_rules.VitalSigns holds (its fields are named after the model's).
VITAL_SIGN_FIELDS = tuple(field.name for field in dataclasses.fields(vitals_rules.VitalSigns))


@dataclass(frozen=True)
class Baseline:
    """An infusion's baseline: its earliest set of vitals by ``taken_at`` (clinical.md A5), or none yet."""

    entry_id: int | None
    taken_at: Any
    vital_signs: dict[str, Any]  # VITAL_SIGN_FIELDS; empty when there is no set yet


NO_BASELINE = Baseline(None, None, {})

# PostgreSQL only, per process: infusion id -> its baseline as last read. A baseline changes only when a set is
# recorded before it (the first set, or a late entry), so the cached one is nearly always right; the write checks
# it in the same statement and is refused when another set has become the earliest (insert_entry_with_history).
# A stale entry therefore costs one more read, never a wrong comparison.
BASELINE_CACHE_SIZE = 4096  # running infusions per process: far more than a hospital runs at once
_baselines: dict[int, Baseline] = {}
_baselines_lock = threading.Lock()


def forget_baselines() -> None:
    """Empty this process's baseline cache (tests; never needed for correctness)."""
    with _baselines_lock:
        _baselines.clear()


def _forget_baseline(infusion_id: int) -> None:
    with _baselines_lock:
        _baselines.pop(infusion_id, None)


def _remember_baseline(infusion_id: int, baseline: Baseline) -> None:
    with _baselines_lock:
        if len(_baselines) >= BASELINE_CACHE_SIZE:
            _baselines.pop(next(iter(_baselines)))  # the oldest remembered: finished infusions age out
        _baselines[infusion_id] = baseline


def _quote(name: str) -> str:
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(name)


@cache
def _entry_fields() -> tuple[Any, ...]:
    """The entry's concrete fields that an INSERT sets (all but the serial primary key)."""
    return tuple(field for field in VitalSignsEntry._meta.concrete_fields if not field.primary_key)


def _earliest_entry_subquery(infusion_column_sql: str) -> str:
    """The id of an infusion's earliest set: the first entry of vitals_by_infusion_time_idx, no sort."""
    entry_table = _quote(VitalSignsEntry._meta.db_table)
    entry_pk = _quote(VitalSignsEntry._meta.pk.column)
    taken_at = _quote(VitalSignsEntry._meta.get_field("taken_at").column)
    entry_infusion = _quote(VitalSignsEntry._meta.get_field("infusion").column)
    return (
        f"SELECT v.{entry_pk} FROM {entry_table} v WHERE v.{entry_infusion} = {infusion_column_sql} "
        f"ORDER BY v.{taken_at}, v.{entry_pk} LIMIT 1"
    )


@cache
def _read_statement(vendor: str) -> str:
    """The infusion (so that an unknown one is told apart) and its baseline set. Portable: PostgreSQL and SQLite."""
    infusion_pk = _quote(Infusion._meta.pk.column)
    entry_pk = _quote(VitalSignsEntry._meta.pk.column)
    columns = ", ".join(
        f"b.{_quote(VitalSignsEntry._meta.get_field(name).column)}" for name in ("taken_at", *VITAL_SIGN_FIELDS)
    )
    return (
        f"SELECT i.{infusion_pk}, b.{entry_pk}, {columns} "
        f"FROM {_quote(Infusion._meta.db_table)} i LEFT JOIN {_quote(VitalSignsEntry._meta.db_table)} b "
        f"ON b.{entry_pk} = ({_earliest_entry_subquery(f'i.{infusion_pk}')}) "
        f"WHERE i.{infusion_pk} = %s"
    )


def baseline_of(infusion_id: int) -> Baseline:
    """The infusion's baseline; ``Infusion.DoesNotExist`` when there is no such infusion."""
    connection = connections[DEFAULT_DB_ALIAS]
    cacheable = connection.vendor == "postgresql"
    if cacheable and (cached := _baselines.get(infusion_id)) is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(_read_statement(connection.vendor), [infusion_id])
        row = cursor.fetchone()
    if row is None:
        raise Infusion.DoesNotExist(f"No infusion {infusion_id}.")
    _, entry_id, *values = row
    baseline = NO_BASELINE
    if entry_id is not None:
        # SQLite hands back text and floats where PostgreSQL gives datetimes and decimals: the fields' own
        # converters (none on PostgreSQL) turn them into what the ORM would have returned.
        taken_at, *signs = (
            _convert(value, expression, converters, connection)
            for value, (expression, converters) in zip(values, _baseline_converters(connection.vendor), strict=True)
        )
        baseline = Baseline(entry_id, taken_at, dict(zip(VITAL_SIGN_FIELDS, signs, strict=True)))
    if cacheable:
        _remember_baseline(infusion_id, baseline)
    return baseline


@cache
def _baseline_converters(vendor: str) -> tuple[tuple[Any, tuple[Any, ...]], ...]:
    connection = connections[DEFAULT_DB_ALIAS]
    result = []
    for name in ("taken_at", *VITAL_SIGN_FIELDS):
        expression = VitalSignsEntry._meta.get_field(name).get_col(VitalSignsEntry._meta.db_table)
        converters = (*connection.ops.get_db_converters(expression), *expression.get_db_converters(connection))
        result.append((expression, converters))
    return tuple(result)


def _convert(value: Any, expression: Any, converters: tuple[Any, ...], connection: Any) -> Any:
    for converter in converters:
        value = converter(value, expression, connection)
    return value


@cache
def _write_statement(vendor: str) -> str:
    """INSERT the entry, if the infusion's earliest set is still the expected one, and from the same values its
    history row: one statement, PostgreSQL only. Returns no row when the baseline has changed."""
    history_model = VitalSignsEntry.history.model
    entry_columns = [field.column for field in _entry_fields()]
    pk_column = VitalSignsEntry._meta.pk.column
    expected = {pk_column, *entry_columns, *HISTORY_COLUMNS, history_model._meta.pk.column}
    actual = {field.column for field in history_model._meta.concrete_fields}
    if actual != expected:
        # A history option (excluded or extra fields) this statement does not know: refuse rather than write an
        # incomplete audit row.
        raise ImproperlyConfigured(
            f"{history_model.__name__} has columns {sorted(actual ^ expected)} that the vitals statement does not "
            "write or does not expect; update infusions/vitals_sql.py."
        )
    columns = ", ".join(_quote(column) for column in entry_columns)
    placeholders = ", ".join(["%s"] * len(entry_columns))
    history_columns = ", ".join(_quote(column) for column in HISTORY_COLUMNS)
    return (
        f"WITH entry AS (INSERT INTO {_quote(VitalSignsEntry._meta.db_table)} ({columns}) SELECT {placeholders} "
        f"WHERE ({_earliest_entry_subquery('%s')}) IS NOT DISTINCT FROM %s "
        f"RETURNING {_quote(pk_column)}, {columns}) "
        f"INSERT INTO {_quote(history_model._meta.db_table)} ({_quote(pk_column)}, {columns}, {history_columns}) "
        f"SELECT {_quote(pk_column)}, {columns}, %s, NULL, '{HISTORY_CREATED}', %s FROM entry "
        f"RETURNING {_quote(pk_column)}"
    )


def insert_entry_with_history(entry: VitalSignsEntry, user: Any, *, baseline: Baseline) -> bool:
    """Save a new entry and its ``+`` history row by ``user``, setting ``entry.pk``, provided the infusion's
    baseline is still ``baseline`` (the one its alerts were worked out against). False, and nothing saved, when
    another set has become the earliest in the meantime: read the baseline again and re-evaluate."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        # The baseline was read just now, uncached: as current as the ORM path ever was.
        with transaction.atomic():  # the entry and simple_history's row: both or neither
            entry._history_user = user  # type: ignore[attr-defined]  # read by simple_history's post_save
            entry.save()
        return True
    values = [field.get_db_prep_save(field.pre_save(entry, True), connection) for field in _entry_fields()]
    with connection.cursor() as cursor:
        cursor.execute(
            _write_statement(connection.vendor),
            [*values, entry.infusion_id, baseline.entry_id, timezone.now(), user.pk],
        )
        row = cursor.fetchone()
    if row is None:
        _forget_baseline(entry.infusion_id)
        return False
    (entry.pk,) = row
    entry._state.adding = False
    entry._state.db = DEFAULT_DB_ALIAS
    if baseline.entry_id is None or entry.taken_at < baseline.taken_at:
        _forget_baseline(entry.infusion_id)  # this entry may be the earliest now: read it next time
    return True
