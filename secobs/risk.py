"""Risk scores for audit events: weighted signals, capped, with weights from a TOML file.

The weights ship in `secobs/risk_weights.toml`; a file of the same layout given by path
replaces them. Signals:

- new_device: first event of the actor from this device (see `secobs.baselines`);
- geo_anomaly: first event of the actor from this country, or an end of an impossible-travel pair;
- auth_failure_burst: evidence of a failed-login burst, password spray or credential stuffing;
- sensitive_route: the route matches one of the configured regular expressions;
- admin_without_mfa: an admin.* event without MFA.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

from secobs.errors import InputError

SIGNALS = (
    "new_device",
    "geo_anomaly",
    "auth_failure_burst",
    "sensitive_route",
    "admin_without_mfa",
)


@dataclass(frozen=True)
class RiskWeights:
    """Weight per signal, the cap on a score and the sensitive route patterns."""

    weights: dict[str, int]
    cap: int
    sensitive_routes: tuple[str, ...]


def load_weights(path: Path | str | None = None) -> RiskWeights:
    """Read the shipped weights and overlay the file at `path`, when given.

    The file may set only some keys: a weight, the cap or the route list it leaves out keeps
    its shipped value. Raises InputError for an unreadable file or an invalid value.
    """
    shipped = resources.files("secobs").joinpath("risk_weights.toml").read_text("utf-8")
    data = tomllib.loads(shipped)
    if path:
        overlay = _read_toml(Path(path))
        data["weights"] = {**data.get("weights", {}), **overlay.get("weights", {})}
        data["cap"] = overlay.get("cap", data.get("cap"))
        data["routes"] = {**data.get("routes", {}), **overlay.get("routes", {})}
    return _validate(data, str(path) if path else "secobs/risk_weights.toml")


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read risk weights: {error.strerror}", path=str(path)) from error
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"invalid TOML: {error}", path=str(path)) from error


def _validate(data: dict, source: str) -> RiskWeights:
    weights = data.get("weights", {})
    unknown = sorted(set(weights) - set(SIGNALS))
    if unknown:
        raise InputError(
            f"unknown signal(s) {', '.join(unknown)}; signals are {', '.join(SIGNALS)}",
            path=source,
        )
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"weight of {name} must be a whole number >= 0", path=source)
    cap = data.get("cap", 100)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise InputError("cap must be a whole number >= 0", path=source)
    routes = tuple(data.get("routes", {}).get("sensitive", ()))
    for pattern in routes:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise InputError(f"invalid route pattern {pattern!r}: {error}", path=source) from None
    return RiskWeights({name: weights.get(name, 0) for name in SIGNALS}, cap, routes)


def score_events(
    events: pl.DataFrame,
    weights: RiskWeights,
    *,
    geo_anomaly: Iterable[tuple[str, int]] = (),
    auth_failure_burst: Iterable[tuple[str, int]] = (),
) -> pl.DataFrame:
    """Add `signals` (list of names) and `risk_score` (0 to cap) to enriched audit events.

    `events` needs source_file, source_record, event, route, mfa and new_device, new_country.
    `geo_anomaly` and `auth_failure_burst` name further events by (source_file, source_record):
    impossible-travel logins and the evidence of failed-login alerts.
    """
    travel = _keys(geo_anomaly)
    burst = _keys(auth_failure_burst)
    key = pl.struct("source_file", "source_record")
    sensitive = "|".join(f"(?:{pattern})" for pattern in weights.sensitive_routes)
    route_hit = (
        pl.col("route").fill_null("").str.contains(sensitive) if sensitive else pl.lit(False)
    )
    conditions = {
        "new_device": pl.col("new_device").fill_null(False),
        "geo_anomaly": pl.col("new_country").fill_null(False) | key.is_in(travel.implode()),
        "auth_failure_burst": key.is_in(burst.implode()),
        "sensitive_route": route_hit,
        "admin_without_mfa": pl.col("event").fill_null("").str.starts_with("admin.")
        & ~pl.col("mfa").fill_null(False),
    }
    signals = pl.concat_list(
        [
            pl.when(condition).then(pl.lit(name)).otherwise(pl.lit(None, pl.String))
            for name, condition in conditions.items()
        ]
    ).list.drop_nulls()
    total = pl.sum_horizontal(
        [
            pl.when(condition).then(weights.weights[name]).otherwise(0)
            for name, condition in conditions.items()
        ]
    )
    return events.with_columns(
        signals.alias("signals"),
        pl.min_horizontal(total, pl.lit(weights.cap)).cast(pl.Int32).alias("risk_score"),
    )


def _keys(pairs: Iterable[tuple[str, int]]) -> pl.Series:
    rows = list(pairs)
    return pl.DataFrame(
        {
            "source_file": [file for file, _ in rows],
            "source_record": [record for _, record in rows],
        },
        schema={"source_file": pl.String, "source_record": pl.Int64},
    ).to_struct("key")
