"""Schedule events: rate() and cron() expressions, fired on time or on demand."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def expression_of(props: dict[str, Any]) -> str:
    return str(props.get("Schedule") or props.get("ScheduleExpression"))


def _field_matches(spec: str, value: int, low: int) -> bool:
    if spec in ("*", "?"):
        return True
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, 10**6
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
            if step > 1:
                end = 10**6
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


def cron_matches(expression: str, moment: datetime) -> bool:
    """AWS cron: minutes hours day-of-month month day-of-week year (1=Sunday); no L/W/#."""
    fields = expression.split()
    if len(fields) != 6 or any(c in expression for c in "LW#") or re.search(r"[A-Za-z]", expression):
        raise ValueError(f"unsupported cron expression {expression!r} (numeric fields only)")
    minute, hour, dom, month, dow, year = fields
    aws_dow = moment.isoweekday() % 7 + 1  # Sunday=1 ... Saturday=7
    return (
        _field_matches(minute, moment.minute, 0)
        and _field_matches(hour, moment.hour, 0)
        and _field_matches(dom, moment.day, 1)
        and _field_matches(month, moment.month, 1)
        and _field_matches(dow, aws_dow, 1)
        and _field_matches(year, moment.year, 1970)
    )


def next_fire(expression: str, after: datetime) -> datetime:
    rate = _RATE.match(expression)
    if rate:
        return after + timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if cron_matches(cron.group(1), moment):
            return moment
        moment += timedelta(minutes=1)
    raise ValueError(f"{expression!r} never fires within a year")


def scheduled_event(props: dict[str, Any], rule_name: str, region: str, account_id: str) -> bytes:
    """What the function receives: the event's Input if the template sets one, else EventBridge's event."""
    if props.get("Input"):
        return str(props["Input"]).encode()
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"],
            "detail": {},
        }
    ).encode()
