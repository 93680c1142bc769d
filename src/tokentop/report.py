"""Plain-text and CSV renderings of a snapshot for the headless commands (pipes, cron, CI)."""

from __future__ import annotations

import csv
import io
from typing import Any

from tokentop.core.sanitize import visible
from tokentop.core.snapshot import GROUPS

COLUMNS = ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
           "reasoning_tokens", "actual", "estimated", "missing", "mismatched", "accuracy", "cost")
SHORT = {"requests": "reqs", "prompt_tokens": "prompt", "completion_tokens": "compl", "total_tokens": "total",
         "cached_tokens": "cached", "reasoning_tokens": "reason", "actual": "actual", "estimated": "est",
         "missing": "miss", "mismatched": "mism", "accuracy": "acc%", "cost": "cost$"}


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "accuracy":
        return f"{100 * value:.1f}"
    if column == "cost":
        return f"{value:.4f}"
    if column == "percent":
        return f"{value:.1f}%"
    return str(value)


def _table(title: str, rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [title]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def _note(source: dict[str, Any]) -> str:
    waiting = source["detail"] if source["status"] == "waiting" else None
    return source["error"] or waiting or source.get("last_skip") or ""


def _overlap(source: dict[str, Any]) -> str:
    """``950 of 1000 with usage.db``: requests of this source another counted source also delivered."""
    overlap = source.get("overlap")
    if not overlap:
        return "-"
    shared = ", ".join(f"{n} of {overlap['requests']} with {visible(other, 30)}"
                       for other, n in overlap["shared"].items())
    return shared or f"none of {overlap['requests']}"


def render_text(doc: dict[str, Any]) -> str:
    parts = [f"tokentop snapshot at {doc['generated_at']} (window: {doc['window']})"]
    source_rows = [
        [visible(s["name"], 40), s["kind"] + (" (reference)" if s.get("role") == "reference" else ""),
         s["status"], str(s["events"]), str(s["skipped"]),
         s["last_event_at"] or "-", visible(_note(s), 60), _overlap(s)]
        for s in doc["sources"]
    ]
    parts.append(_table("Sources", source_rows,
                        ["name", "kind", "status", "events", "skipped", "last event", "note", "shared (counted once)"]))
    header = ["", *(SHORT[c] for c in COLUMNS)]
    parts.append(_table("Totals", [["all", *(_cell(c, doc["totals"][c]) for c in COLUMNS)]], header))
    for group in GROUPS:
        entries = doc[f"by_{group}"]
        if not entries:
            continue
        rows = [[visible(name, 48) or "(none)", *(_cell(c, e[c]) for c in COLUMNS)] for name, e in
                sorted(entries.items(), key=lambda kv: -kv[1]["total_tokens"])]
        title = f"By {group}" + (f"\n  {note}" if (note := folded_note(doc, group)) else "")
        if group == "user":  # (the period's usage against the limit: a usage counter's reading counts)
            rows = [r + [visible(e["plan"] or "-", 16), str(e["period_tokens"]), _cell("limit", e["limit"]),
                         _cell("percent", e["percent"])]
                    for r, (_, e) in zip(rows, sorted(entries.items(), key=lambda kv: -kv[1]["total_tokens"]))]
            parts.append(_table(title, rows, [group, *header[1:], "plan", "period", "limit", "used%"]))
        else:
            parts.append(_table(title, rows, [group, *header[1:]]))
    alerts = doc.get("alerts", [])
    parts.append("Alerts" if alerts else "Alerts: none")
    for alert in alerts:
        parts.append(f"  [{alert['severity']}] {alert['rule']} {visible(alert['subject'], 60)}: "
                     f"{visible(alert['message'], 200)} (since {alert['since']})")
    return "\n\n".join(parts) + "\n"


FORMULA_LEADS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""A cell starting with one of these is a formula to a spreadsheet (the full-width forms too, which
some spreadsheets read as their ASCII twins); TAB, CR and NUL are already escaped by ``visible``."""


def csv_cell(text: str) -> str:
    """A name safe in a CSV opened by a spreadsheet (OWASP's CSV-injection guidance): control and
    invisible characters shown as escapes, and a formula-leading cell prefixed with ``'``."""
    safe = visible(text)
    return "'" + safe if safe.startswith(FORMULA_LEADS) else safe


def folded_note(doc: dict[str, Any], group: str) -> str:
    """``(other): N user names folded in ...`` when the key cap folded any name of ``group``."""
    cap = doc.get("key_cap") or {}
    folded = (cap.get("folded") or {}).get(group, 0)
    if not folded:
        return ""
    return (f"(other): {folded:,} {group} name{'s' if folded != 1 else ''} folded in (more than "
            f"{cap.get('max_keys', 0):,} distinct; the least used are summed there; [limits] max_keys)")


def render_csv(doc: dict[str, Any]) -> str:
    """One row per group member: ``group,name,<counts...>`` (totals as group ``total``). Names pass
    :func:`csv_cell`; the counts are tokentop's own numbers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "name", *COLUMNS])
    writer.writerow(["total", "all", *(doc["totals"][c] for c in COLUMNS)])
    for group in GROUPS:
        for name, entry in sorted(doc[f"by_{group}"].items()):
            writer.writerow([group, csv_cell(name), *(entry[c] for c in COLUMNS)])
    return out.getvalue()
