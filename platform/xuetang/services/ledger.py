"""Reading the ledger: a person's annual standing (rules applied, plain values out) and the
evidence behind each online line (the play sessions, stretches and refused beats)."""

import datetime as dt
from dataclasses import dataclass, field

from xuetang import clock
from xuetang.models import (
    BeatRejection,
    FaceCheck,
    FilingCredit,
    LedgerLine,
    Person,
    PlaySession,
    StudyCredit,
    StudyYear,
    WatchStretch,
)
from xuetang.rules.annual import (
    CATEGORIES,
    CATEGORY_LABELS,
    SOURCE_LABELS,
    SOURCES,
    AnnualStatus,
    annual_status,
    in_professional_window,
)


@dataclass
class YearView:
    """Everything the 'my year' page shows."""

    study_year: StudyYear
    status: AnnualStatus
    rows: list[dict]  # per (source, category) with raw and counted hours
    window_open: bool
    window_closed: bool
    lines: list[LedgerLine]
    filed: list[dict]  # filed lines by source with their filer and filing reference


def year_view(person: Person, study_year: StudyYear, today: dt.date | None = None) -> YearView:
    today = today or clock.today()
    policy = study_year.as_policy()
    lines = list(
        LedgerLine.select()
        .where((LedgerLine.person == person) & (LedgerLine.year == study_year.year))
        .order_by(LedgerLine.created_at, LedgerLine.id)
    )
    status = annual_status(policy, [row.as_line() for row in lines], exempt=person.is_exempt)
    rows = []
    for source in SOURCES:
        for category in CATEGORIES:
            key = (source, category)
            if key in status.by_source:
                rows.append({
                    "source": SOURCE_LABELS[source],
                    "category": CATEGORY_LABELS[category],
                    "raw": status.by_source[key],
                    "counted": status.capped_by_source[key],
                    "capped": status.by_source[key] > status.capped_by_source[key],
                })
    return YearView(
        study_year=study_year,
        status=status,
        rows=rows,
        window_open=in_professional_window(policy, today),
        window_closed=today > policy.window_end,
        lines=lines,
        filed=filed_lines(person, study_year.year),
    )


def filed_lines(person: Person, year: int) -> list[dict]:
    """The person's filed hours of a year: source, category, hours, filer, reference, status."""
    credits = list(FilingCredit.for_person_year(person, year))
    reversed_ids = {line.reverses_id for line in LedgerLine.select(LedgerLine.reverses)
                    .where(LedgerLine.reverses.in_([c.line_id for c in credits]))} if credits else set()
    return [{"source": SOURCE_LABELS[c.line.source], "category": CATEGORY_LABELS[c.line.category],
             "hours": c.line.hours, "filer": c.filing.organization.name,
             "reference": c.filing.reference, "withdrawn": c.line_id in reversed_ids}
            for c in credits]


# The evidence page shows at most this many refused beats per session (each beat records at
# most two codes).
EVIDENCE_REJECTIONS_LIMIT = 200


@dataclass
class Evidence:
    """Everything 'how was this counted' shows for one ledger line."""

    line: LedgerLine
    credit: StudyCredit | None
    stretches: list[WatchStretch]
    sessions: list[PlaySession]
    rejections: dict[int, list[BeatRejection]]
    releasing: list[FaceCheck]  # the passing face checks that released these stretches
    # Stretches shorter than the page's one-second resolution: counted, not listed as 0:00-0:00.
    short_count: int = 0
    short_ms: int = 0
    # Every face check of these sessions (time, lesson position, distance, threshold, decision).
    face_checks: list[FaceCheck] = field(default_factory=list)


def evidence_for(person, line_id: int) -> Evidence | None:
    """A ledger line of this person with its play sessions and stretches, or None."""
    line = LedgerLine.get_or_none((LedgerLine.id == line_id) & (LedgerLine.person == person))
    if line is None:
        return None
    credit = StudyCredit.get_or_none(StudyCredit.ledger_line == line)
    stretches, sessions, rejections, releasing = [], [], {}, []
    if credit is not None:
        stretches = list(WatchStretch.select()
                         .where(WatchStretch.credit == credit)
                         .order_by(WatchStretch.server_to_ms, WatchStretch.id))
        session_ids = sorted({s.play_session_id for s in stretches})
        sessions = list(PlaySession.select().where(PlaySession.id.in_(session_ids))
                        .order_by(PlaySession.opened_at)) if session_ids else []
        for play in sessions:
            rejections[play.id] = list(BeatRejection.select()
                                       .where(BeatRejection.play_session == play)
                                       .order_by(BeatRejection.server_ms, BeatRejection.id)
                                       .limit(EVIDENCE_REJECTIONS_LIMIT))
        releasing = releasing_checks(stretches, sessions)
    short = [s for s in stretches if s.start_ms // 1000 == s.end_ms // 1000]
    shown = [s for s in stretches if s not in short]
    tokens = [play.token for play in sessions if play.face_required]
    checks = list(FaceCheck.select().where(FaceCheck.play_session_id.in_(tokens))
                  .order_by(FaceCheck.issued_at, FaceCheck.id)) if tokens else []
    return Evidence(line, credit, shown, sessions, rejections, releasing, len(short),
                    sum(s.end_ms - s.start_ms for s in short), checks)


def releasing_checks(stretches: list[WatchStretch], sessions: list[PlaySession]) -> list[FaceCheck]:
    """For each stretch of a face-checked session, the first passing check at or after its play
    ended (the gate's rule: that pass released it); each check once, in time order."""
    tokens = {play.id: play.token for play in sessions if play.face_required}
    if not tokens:
        return []
    passes: dict[str, list[FaceCheck]] = {}
    for check in (FaceCheck.select()
                  .where(FaceCheck.play_session_id.in_(list(tokens.values()))
                         & FaceCheck.decided_at.is_null(False))
                  .order_by(FaceCheck.decided_at, FaceCheck.id)):
        if check.passed:
            passes.setdefault(check.play_session_id, []).append(check)
    found: dict[int, FaceCheck] = {}
    for stretch in stretches:
        for check in passes.get(tokens.get(stretch.play_session_id), []):
            if clock.to_ms(check.decided_at) >= stretch.server_to_ms:
                found[check.id] = check
                break
    return sorted(found.values(), key=lambda c: (c.decided_at, c.id))
