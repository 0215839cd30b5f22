"""The bounded spreadsheet reader: each hostile file the probe sent, at a size that runs quickly."""

import pytest

from tests.support.sheets import HEADERS, csv_text, excel_xlsx, part, rewrite, xlsx
from xuetang.services.spreadsheets import (
    DEFAULT_LIMITS,
    SheetLimits,
    SpreadsheetError,
    clip,
    read_sheet,
    read_table,
)

ROW = ["张三", "370102199001011237", "工程技术", "13800000000"]
REQUIRED = {"name": ("姓名",), "id_number": ("身份证号",), "series": ("职称系列",),
            "phone": ("手机号",)}


def refusal(data: bytes, limits: SheetLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(SpreadsheetError) as err:
        read_table(data, limits)
    assert err.value.status == 400
    return err.value.message


@pytest.mark.parametrize("data", [excel_xlsx([ROW]), xlsx([ROW]), csv_text([ROW])])
def test_ordinary_files_read_the_same(data):
    assert read_table(data) == [HEADERS, ROW]
    sheet = read_sheet(data, REQUIRED)  # the call the roster (and the filings) make
    assert sheet.rows == [(2, dict(zip(REQUIRED, ROW, strict=True)))]


def test_a_long_shared_string_is_refused_not_echoed():
    message = refusal(excel_xlsx([["x" * 200_000, *ROW[1:]]]))
    assert "第2行" in message and "1000个字符" in message


def test_a_long_csv_cell_is_refused():
    assert "1000个字符" in refusal(csv_text([["x" * 5000, *ROW[1:]]]))
    assert "单元格过长" in refusal(csv_text([["x" * 200_000, *ROW[1:]]]))  # csv's own limit


def test_too_many_shared_strings_are_refused_while_counting():
    message = refusal(excel_xlsx([ROW], extra_strings=DEFAULT_LIMITS.max_shared_strings))
    assert "文字条目超过200000个" in message


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE sst [<!ENTITY a "' + "y" * 1000 + '">]>',
    '<!DOCTYPE sst [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;">]>',
    '<!DOCTYPE sst SYSTEM "file:///etc/passwd">',
    '<!DOCTYPE sst>',
])
def test_dtds_and_entities_are_refused_with_a_clear_message(prolog):
    cell = "&c;" if "ENTITY c" in prolog else "&a;" if "ENTITY" in prolog else "张三"
    assert "DTD或实体" in refusal(excel_xlsx([[cell, *ROW[1:]]], prolog=prolog))


def test_a_dtd_in_the_worksheet_itself_is_refused():
    data = excel_xlsx([ROW])
    sheet = part(data, "xl/worksheets/sheet1.xml")
    hostile = b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e "x">]>' + sheet
    assert "DTD或实体" in refusal(rewrite(data, {"xl/worksheets/sheet1.xml": hostile}))


def test_a_part_that_inflates_past_the_limit_is_refused_before_parsing():
    data = excel_xlsx([ROW])
    sheet = part(data, "xl/worksheets/sheet1.xml")
    padded = sheet.replace(b"<sheetData>", b"<sheetData>" + b" " * (33 * 1024 * 1024))
    bomb = rewrite(data, {"xl/worksheets/sheet1.xml": padded})
    assert len(bomb) < 100 * 1024
    assert "解压后过大" in refusal(bomb)


def test_too_many_parts_are_refused():
    data = excel_xlsx([ROW])
    assert "无法读取" in refusal(rewrite(data, {f"x/{i}.bin": b"" for i in range(201)}))


def test_a_declared_extent_of_every_column_reads_only_the_first_columns():
    data = excel_xlsx([ROW] * 200, dimension="A1:XFD201")
    rows = read_table(data)
    assert len(rows) == 201 and max(len(r) for r in rows) <= DEFAULT_LIMITS.max_columns


@pytest.mark.parametrize("blank", [b"\n", b",,,,\n"])
def test_blank_rows_count_towards_the_scan_limit(blank):
    data = csv_text([ROW]) + b"\n" + blank * (DEFAULT_LIMITS.max_scanned_rows + 1)
    assert "最多导入20000行" in refusal(data)


def test_row_limit_counts_data_rows_only():
    limits = SheetLimits(max_rows=3)
    assert len(read_table(csv_text([ROW] * 3) + b"\n\n\n", limits)) == 4
    assert "最多导入3行" in refusal(csv_text([ROW] * 4), limits)


def test_clip_shortens_only_long_values():
    assert clip("张三") == "张三"
    assert clip("甲" * 100) == "甲" * 40 + "…"
