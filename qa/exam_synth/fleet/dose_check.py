"""The fleet scanners' Dose Check (NEMA XR 25; PS3.16 TID 10015 in their dose reports) (pure).

Every scan event (localizers have none) reports the values its scanner had configured; an event
whose CTDIvol is above the notification value of its protocol is written as the scanner records a
notification that was passed: the forward estimate (the event's CTDIvol: the console's estimate
is what was delivered, for these files), a reason for proceeding and the technologist who
authorised it.  Which events exceed follows from the planned doses alone (the calcium scores
planted above the reference level always do; some dose outliers and retrospectively gated spirals
do too), so the truth states it without reading a file.
"""

from __future__ import annotations

from qa.exam_synth.fleet.records import PlannedEvent, PlannedExam

# The CTDIvol alert value of the AAPM Dose Check Guidelines (version 1.0, 2011): 1000 mGy.
ALERT_CTDIVOL_MGY = 1000.0
# Notification values (CTDIvol, mGy) a cardiac site might set per protocol (our proposal): a calcium
# score at the site's calcium-score reference level (10 mGy, procedures/dose-reference.toml site-cac),
# an angiography at 50 mGy (the AAPM guidelines' prospectively gated cardiac value), others 25 mGy.
NOTIFICATION_CTDIVOL_MGY = {"calcium_score": 10.0, "cta": 50.0}
DEFAULT_NOTIFICATION_CTDIVOL_MGY = 25.0
# What a technologist types when passing a notification (invented; chosen by the study's number).
REASONS = ("large patient", "repeat after motion", "protocol confirmed with radiologist")


def notification_ctdivol_mgy(event: PlannedEvent) -> float | None:
    """The CTDIvol notification value of the event's protocol (None for a localizer: no Dose Check)."""
    if event.role == "localizer":
        return None
    return NOTIFICATION_CTDIVOL_MGY.get(event.role, DEFAULT_NOTIFICATION_CTDIVOL_MGY)


def alert_ctdivol_mgy(event: PlannedEvent) -> float | None:
    return None if event.role == "localizer" else ALERT_CTDIVOL_MGY


def notification_exceeded(event: PlannedEvent) -> bool:
    value = notification_ctdivol_mgy(event)
    return value is not None and event.ctdivol_mgy > value


def reason(exam: PlannedExam) -> str:
    return REASONS[exam.number % len(REASONS)]


def reported_events(exam: PlannedExam) -> list[PlannedEvent]:
    """The events the study's dose reports hold (none without a report; a re-send's superset)."""
    held = sorted({i for report in exam.reports for i in report.events})
    return [exam.events[i] for i in held]


def counts(exam: PlannedExam) -> tuple[int, int]:
    """(events with a notification passed, events with an alert passed) among the reported events."""
    events = reported_events(exam)
    return sum(1 for e in events if notification_exceeded(e)), 0  # no cardiac scan reaches the 1000 mGy alert value
