"""Filings in the services: row checks, the caps across filings, review, exactly-once, reversal."""

import io
from decimal import Decimal

import pytest

from tests.support.filings import (
    filer_account,
    new_person,
    person_id,
    reviewer_account,
    roster_csv,
    roster_xlsx,
    viewer,
)
from xuetang.db import database
from xuetang.models import (
    Filing,
    FilingCredit,
    FilingEvent,
    FilingRow,
    LedgerLine,
    Person,
    Series,
    StudyYear,
)
from xuetang.rules.annual import COMPETITION, FILING_SERIES, SEMINAR
from xuetang.rules.idcard import check_char
from xuetang.services import filing_checks, filing_review, filings
from xuetang.services.filing_review import FilingRefused
from xuetang.services.spreadsheets import SpreadsheetError

UNKNOWN_ID = "11010519491231002" + check_char("11010519491231002")


@pytest.fixture
def ctx(app, clock):
    """An app context on 1 September 2021 with the demo data; industry and cebase file."""
    with app.app_context(), database.connection_context():
        yield


def upload(username, kind, data, year=2021):
    return filings.upload_filing(viewer(username), kind, year, data, "roster.csv")


def errors_of(shown, number):
    return "；".join(next(r for r in shown.check.rows if r.number == number).errors)


def through_review(kind, data, filer="industry", reviewer="city"):
    shown = upload(filer, kind, data)
    assert shown.filing is not None, [r.errors for r in shown.check.invalid]
    filing_review.submit(viewer(filer), shown.filing.id)
    return filing_review.approve(viewer(reviewer), shown.filing.id)


def competition_lines(person):
    return list(LedgerLine.select().where((LedgerLine.person == person)
                                          & (LedgerLine.source == COMPETITION)))


def test_bad_rows_each_say_why_and_nothing_is_stored(ctx):
    wang, zhao = person_id("王建华"), person_id("赵丽娟")
    bad_checksum = wang[:17] + ("0" if wang[17] != "0" else "1")
    data = roster_csv(SEMINAR, [
        ["王建华", bad_checksum, "工程技术", "研修班", "ZS-1", "2021-09-06", "5"],
        ["无名氏", UNKNOWN_ID, "工程技术", "研修班", "ZS-2", "2021-09-06", "5"],
        ["王建华", wang, "工程技术", "研修班", "ZS-3", "2021-09-06", "0"],
        ["王建华", wang, "工程技术", "研修班", "ZS-4", "2021-09-06", "40"],
        ["赵丽娟", zhao, "中小学教师", "研修班", "ZS-5", "2021-09-06", "2"],
        ["王建华", wang, "工程技术", "研修班", "ZS-6", "2022-01-06", "2"],
        ["王建华", wang, "工程技术", "研修班", "ZS-7", "2021-09-06", "3"],
        ["王建华", wang, "工程技术", "研修班二", "zs-7", "2021-10-06", "3"],
    ])
    before = Filing.select().count()
    shown = upload("cebase", SEMINAR, data)
    assert shown.filing is None and Filing.select().count() == before
    assert "校验位错误" in errors_of(shown, 2)
    assert "未找到该身份证号" in errors_of(shown, 3)
    assert "1至31" in errors_of(shown, 4) and "1至31" in errors_of(shown, 5)
    assert "单独的学分管理办法" in errors_of(shown, 6)
    assert "不在2021年度内" in errors_of(shown, 7)
    assert errors_of(shown, 8) == ""
    assert "与第8行重复" in errors_of(shown, 9)  # the same certificate, however named
    other = upload("cebase", SEMINAR, roster_csv(SEMINAR, [
        ["王建华", wang, "工程技术", "研修班", "ZS-9", "2021-09-06", "3"],
        ["李秀梅", person_id("李秀梅"), "工程技术", "研修班", "zs-9", "2021-09-06", "3"]]))
    assert "证书编号与第2行（另一人）相同" in errors_of(other, 3)
    assert shown.check.rows[6].professional == Decimal(24)  # 3 days x 8 hours


def test_a_filing_mode_row_for_a_series_that_is_not_filing_mode(ctx):
    data = roster_csv(FILING_SERIES, [
        ["王建华", person_id("王建华"), "工程技术", "继续教育", "2021-11-30", "60"],
        ["张志强", person_id("张志强"), "卫生技术", "继续教育", "2021-11-30", "60"],
    ])
    shown = upload("industry", FILING_SERIES, data)
    assert "不是备案方式管理的系列" in errors_of(shown, 2)
    assert errors_of(shown, 3) == ""


def test_competition_with_eight_public_hours_counts_five_and_says_so(ctx):
    li = Person.get(Person.real_name == "李秀梅")
    data = roster_csv(COMPETITION, [["李秀梅", li.id_number, "工程技术", "技术比武", "2021-10-16",
                                     "8", "0"]])
    shown = upload("industry", COMPETITION, data)
    row = shown.check.rows[0]
    assert row.ok and row.counted_public == 5 and "公需学时计入5" in row.notes[0]
    through_review(COMPETITION, data)
    status = filings_year_status(li)
    assert status.capped_by_source[(COMPETITION, "public")] == 5


def filings_year_status(person):
    from xuetang.services.ledger import year_view

    return year_view(person, StudyYear.for_year(2021)).status


def test_two_competition_filings_together_over_thirty_professional(ctx):
    person = new_person(11, "钱多多", Series.get(Series.name == "经济"))
    first = roster_csv(COMPETITION, [["钱多多", person.id_number, "经济", "竞赛一", "2021-10-01",
                                      "0", "20"]])
    through_review(COMPETITION, first)
    second = roster_csv(COMPETITION, [["钱多多", person.id_number, "经济", "竞赛二", "2021-10-02",
                                       "0", "20"]])
    shown = upload("industry", COMPETITION, second)
    row = shown.check.rows[0]
    assert row.ok and row.counted_professional == 10
    assert "专业学时计入10" in row.notes[0] and "最多30" in row.notes[0]
    through_review(COMPETITION, second)
    status = filings_year_status(person)
    assert status.by_source[(COMPETITION, "professional")] == 40
    assert status.capped_by_source[(COMPETITION, "professional")] == 30


def test_approving_twice_and_filing_the_same_rows_again_never_credit_twice(ctx):
    zhang = Person.get(Person.real_name == "张志强")
    data = roster_csv(FILING_SERIES, [["张志强", zhang.id_number, "卫生技术", "卫生继续教育",
                                       "2021-06-30", "30"]])
    filing = through_review(FILING_SERIES, data)
    lines = LedgerLine.select().where(LedgerLine.person == zhang).count()
    with pytest.raises(FilingRefused, match="已审核通过，学时不会重复计入"):
        filing_review.approve(viewer("city"), filing.id)
    with pytest.raises(FilingRefused, match="同一文件不会重复计入"):
        upload("industry", FILING_SERIES, data)
    # The same row in another file (a trailing blank line changes the file, not the row).
    again = upload("industry", FILING_SERIES, data + b"\r\n,,,,,\r\n")
    assert f"已在备案{filing.reference}中报送" in errors_of(again, 2)
    assert LedgerLine.select().where(LedgerLine.person == zhang).count() == lines


def test_two_drafts_of_the_same_rows_the_second_cannot_be_submitted(ctx):
    zhang = person_id("张志强")
    rows = [["张志强", zhang, "卫生技术", "卫生继续教育", "2021-07-01", "10"]]
    first = upload("industry", FILING_SERIES, roster_csv(FILING_SERIES, rows))
    second = upload("industry", FILING_SERIES, roster_csv(FILING_SERIES, rows, "gb18030"))
    assert first.filing and second.filing  # drafts hold nothing yet
    filing_review.submit(viewer("industry"), first.filing.id)
    with pytest.raises(FilingRefused, match="已不能通过检查"):
        filing_review.submit(viewer("industry"), second.filing.id)


def test_a_row_already_credited_elsewhere_stops_the_whole_approval(ctx):
    zhang = person_id("张志强")
    rows = [["张志强", zhang, "卫生技术", "卫生继续教育", "2021-07-02", "10"]]
    first = upload("industry", FILING_SERIES, roster_csv(FILING_SERIES, rows))
    filing_review.submit(viewer("industry"), first.filing.id)
    filing_review.approve(viewer("city"), first.filing.id)
    # A second filing holding the same row, forced past the checks: the unique key still holds.
    second = Filing.create(reference="BA-forced", kind=FILING_SERIES, year=2021,
                           organization=first.filing.organization, content_sha256="x",
                           status="submitted")
    for row in FilingRow.select().where(FilingRow.filing == first.filing):
        copied = {k: v for k, v in row.__data__.items() if k != "id"}
        FilingRow.create(**{**copied, "filing": second, "applied_key": None})
    count = LedgerLine.select().count()
    with pytest.raises(FilingRefused, match="已由其他备案计入"):
        filing_review.approve(viewer("city"), second.id)
    assert LedgerLine.select().count() == count
    assert Filing.get_by_id(second.id).status == "submitted"


def test_reject_needs_a_reason_and_withdraw_reverses_every_line(ctx):
    wang = person_id("王建华")
    data = roster_csv(SEMINAR, [["王建华", wang, "工程技术", "信息技术研修", "JN-88", "2021-09-06",
                                 "2"]])
    shown = upload("cebase", SEMINAR, data)
    filing_review.submit(viewer("cebase"), shown.filing.id)
    with pytest.raises(FilingRefused, match="请填写驳回理由"):
        filing_review.reject(viewer("city"), shown.filing.id, " ")
    filing = filing_review.approve(viewer("city"), shown.filing.id)
    credited = [c.line for c in FilingCredit.select().where(FilingCredit.filing == filing)]
    assert [line.hours for line in credited] == [Decimal(16)]
    filing_review.withdraw(viewer("cebase"), filing.id, "证书编号有误")
    reversing = LedgerLine.get(LedgerLine.reverses == credited[0])
    assert reversing.hours == Decimal(-16) and "证书编号有误" in reversing.evidence
    assert LedgerLine.get_by_id(credited[0].id).hours == Decimal(16)  # nothing deleted
    actions = [e.action for e in FilingEvent.select().where(FilingEvent.filing == filing)
               .order_by(FilingEvent.id)]
    assert actions == ["uploaded", "submitted", "approved", "reversed"]
    # Withdrawn rows no longer hold their credit: the corrected filing may be filed again.
    assert upload("cebase", SEMINAR, data + b"\n").filing is not None


def test_only_the_filers_district_reviews_it(ctx):
    filer_account("huaiyin-health", "industry_dept", "槐荫区卫生健康局", "industry_dept", "槐荫区")
    reviewer_account("huaiyin", "district_admin", "槐荫区")
    data = roster_csv(FILING_SERIES, [["张志强", person_id("张志强"), "卫生技术", "继续教育",
                                       "2021-08-08", "12"]])
    shown = upload("huaiyin-health", FILING_SERIES, data)
    city_queue = filings.queue_count(viewer("city"))
    filing_review.submit(viewer("huaiyin-health"), shown.filing.id)
    for outsider in ("lixia", "city", "industry"):
        with pytest.raises(FilingRefused):
            filing_review.approve(viewer(outsider), shown.filing.id)
    assert filings.queue_count(viewer("huaiyin")) == 1
    assert filings.queue_count(viewer("city")) == city_queue
    filing_review.approve(viewer("huaiyin"), shown.filing.id)
    assert filings.queue_count(viewer("huaiyin")) == 0


def test_uploads_after_the_close_date_are_refused_until_the_city_reopens(ctx, clock):
    data = roster_csv(FILING_SERIES, [["张志强", person_id("张志强"), "卫生技术", "继续教育",
                                       "2021-08-09", "12"]])
    import datetime as dt

    filing_review.set_period(viewer("city"), 2021, dt.date(2021, 8, 31), False)
    with pytest.raises(FilingRefused, match="2021年度备案已于2021-08-31截止"):
        upload("industry", FILING_SERIES, data)
    with pytest.raises(FilingRefused):
        filing_review.set_period(viewer("lixia"), 2021, dt.date(2021, 8, 31), True)
    filing_review.set_period(viewer("city"), 2021, dt.date(2021, 8, 31), True)
    assert upload("industry", FILING_SERIES, data).filing is not None
    actions = [e.action for e in FilingEvent.select().where(FilingEvent.year == 2021,
                                                            FilingEvent.filing.is_null())]
    assert actions == ["close_set", "reopened"]


def test_gbk_csv_with_a_bom_and_xlsx_quirks(ctx):
    zhang = person_id("张志强")
    row = ["张志强", zhang, "卫生技术", "卫生继续教育", "2021-09-09", "12"]
    gbk = roster_csv(FILING_SERIES, [row], "gb18030")
    assert upload("industry", FILING_SERIES, gbk).filing is not None
    utf8_bom = roster_csv(FILING_SERIES, [row[:4] + ["2021-09-10", "12"]], "utf-8-sig")
    assert utf8_bom.startswith(b"\xef\xbb\xbf")
    assert upload("industry", FILING_SERIES, utf8_bom).filing is not None
    gbk_with_bom = b"\xef\xbb\xbf" + roster_csv(FILING_SERIES, [row[:4] + ["2021-09-12", "1"]],
                                                "gb18030")
    assert upload("industry", FILING_SERIES, gbk_with_bom).filing is not None
    with pytest.raises(SpreadsheetError, match="缺少必需的列"):
        upload("industry", FILING_SERIES, roster_xlsx(FILING_SERIES, [row], merged_header=True))
    extra = upload("industry", FILING_SERIES,
                   roster_xlsx(FILING_SERIES, [row[:4] + ["2021-09-11", 12]], extra_sheet=True))
    assert "只读取了第一个工作表“备案名册”" in extra.check.notice and extra.filing is not None


def test_formula_like_cells_are_stored_as_text_and_exported_escaped(ctx):
    zhang = person_id("张志强")
    data = roster_csv(FILING_SERIES, [
        ["张志强", zhang, "卫生技术", '=HYPERLINK("http://evil","点我")', "2021-09-12", "6"],
        ["张志强", zhang, "卫生技术", "+cmd|' /C calc'!A0", "2021-09-13", "6"],
    ])
    shown = upload("industry", FILING_SERIES, data)
    stored = [r.activity for r in FilingRow.select().where(FilingRow.filing == shown.filing)
              .order_by(FilingRow.number)]
    assert stored == ['=HYPERLINK("http://evil","点我")', "+cmd|' /C calc'!A0"]
    exported, _name = filings.export_csv(viewer("industry"), shown.filing.id)
    text = exported.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+cmd|" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_formula_like_text_cells_in_xlsx_are_kept_as_text(ctx):
    from openpyxl import load_workbook

    zhang = person_id("张志强")
    data = roster_xlsx(FILING_SERIES, [["张志强", zhang, "卫生技术", "@SUM(1+1)", "2021-09-14", 6]])
    book = load_workbook(io.BytesIO(data))
    cell = book.active["D2"]
    cell.value, cell.data_type = "=HYPERLINK(\"http://evil\")", "s"  # text that looks like one
    buffer = io.BytesIO()
    book.save(buffer)
    shown = upload("industry", FILING_SERIES, buffer.getvalue())
    assert shown.filing is not None
    assert FilingRow.get(FilingRow.filing == shown.filing).activity == '=HYPERLINK("http://evil")'


def test_ten_thousand_rows_are_checked_and_stored(ctx):
    """How fast this goes is measured by bench/filings.py (docs/performance.md), not asserted."""
    series = Series.get(Series.name == "会计")
    people = [new_person(1000 + n, f"会计{n}", series) for n in range(200)]
    rows = [[p.real_name, p.id_number, "会计", f"会计继续教育第{k}期", "2021-10-01", "1"]
            for k in range(50) for p in people]
    data = roster_csv(FILING_SERIES, rows)
    check = filing_checks.read_filing(data, FILING_SERIES, StudyYear.for_year(2021))
    assert len(check.rows) == 10000 and check.ok
    shown = upload("industry", FILING_SERIES, data)  # checked again, then stored as a draft
    assert shown.filing is not None


def test_demo_has_applied_and_pending_filings_of_each_kind(app):
    from xuetang import clock as server_clock
    from xuetang.seed import demo

    with app.app_context(), database.connection_context():
        year = server_clock.today().year
        demo.load()  # idempotent: a second load adds nothing
        made = list(Filing.select().where(Filing.year == year))
        assert len(made) == 8
        for kind in (SEMINAR, COMPETITION, "registered_qualification", FILING_SERIES):
            assert {f.status for f in made if f.kind == kind} == {"approved", "submitted"}
        assert filings.queue_count(viewer("lixia")) == 1
        li = Person.get(Person.real_name == "李秀梅")
        from xuetang.services.ledger import year_view

        filed = year_view(li, StudyYear.for_year(year)).filed
        assert {f["reference"] for f in filed} and all(f["filer"] for f in filed)
        assert sum(f["hours"] for f in filed) == Decimal(16 + 8 + 12 + 24)


def test_a_filing_mode_roster_may_bring_people_who_are_registered_on_approval(ctx):
    from xuetang.models import Account

    data = roster_csv(FILING_SERIES, [
        ["新医生", UNKNOWN_ID, "卫生技术", "卫生继续教育", "2021-09-15", "30"],
        ["新医生", UNKNOWN_ID, "卫生技术", "卫生继续教育（二）", "2021-09-16", "10"],
        ["新工程师", UNKNOWN_ID[:-1] + "0", "工程技术", "卫生继续教育", "2021-09-15", "30"],
    ])
    checked = upload("industry", FILING_SERIES, data)
    assert "审核通过时将登记" in checked.check.rows[0].notes[0]
    assert errors_of(checked, 4)  # a bad checksum is never registered
    good = roster_csv(FILING_SERIES, [
        ["新医生", UNKNOWN_ID, "卫生技术", "卫生继续教育", "2021-09-15", "30"],
        ["新医生", UNKNOWN_ID, "卫生技术", "卫生继续教育（二）", "2021-09-16", "10"],
    ])
    filing = through_review(FILING_SERIES, good)
    assert filing.status == "approved"
    person = Person.get(Person.id_number == UNKNOWN_ID)
    assert person.real_name == "新医生" and person.series.name == "卫生技术"
    assert Account.get(Account.person == person).must_change_password
    assert sum(line.hours for line in person.ledger_lines) == Decimal(40)
    not_filing_mode = upload("industry", FILING_SERIES, roster_csv(FILING_SERIES, [
        ["新工程师", "11010519491231003" + check_char("11010519491231003"), "工程技术", "培训",
         "2021-09-15", "30"]]))
    assert "不是备案方式管理的系列" in errors_of(not_filing_mode, 2)
