"""Demo notices: the engineering office answers for 工程技术 and published its 2021 notice on time
and its study guide (with a small PDF); a second office published the 卫生技术 notice late."""

import datetime as dt

from xuetang import clock
from xuetang.db import database
from xuetang.models import Notice, NoticeAttachment, OfficeSeries, Organization, Series
from xuetang.services import attachments, markdown

LATE_OFFICE = "卫生技术职称评审委员会办事机构"

NOTICES = [
    # office name, series, kind, title, body, first published (Beijing date)
    ("工程技术职称评审委员会办事机构", "工程技术", "notice",
     "关于做好2021年度工程技术系列专业科目继续教育的通知",
     "## 一、学习对象\n\n全市工程技术系列专业技术人员。\n\n## 二、学习要求\n\n"
     "- 专业科目不少于 **60 学时**，学习时间 2021年8月1日至12月31日；\n"
     "- 逾期不再安排专业课补学。\n\n## 三、学习方式\n\n登录学堂平台“专业课广场”选课学习。",
     dt.date(2021, 8, 3)),
    ("工程技术职称评审委员会办事机构", "工程技术", "guide",
     "2021年度工程技术系列（新一代信息技术、建设工程）学习指南",
     "| 专业 | 推荐课程 |\n|---|---|\n| 新一代信息技术 | 人工智能与大数据 |\n"
     "| 建设工程 | 绿色建造新技术 |\n\n详见附件。", dt.date(2021, 8, 3)),
    (LATE_OFFICE, "卫生技术", "notice", "关于2021年度卫生技术系列专业科目继续教育的通知",
     "卫生技术系列为备案制系列，专业科目学时由行业主管部门备案。", dt.date(2021, 8, 10)),
]

# A minimal valid one-page PDF (the guide's attachment).
GUIDE_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
             b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
             b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
             b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _published_at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2, 0))  # 10:00 Beijing time, stored UTC


def load(media_root: str | None) -> None:
    """Idempotent: offices, their series, the notices and the guide's PDF."""
    with database.atomic():
        Organization.get_or_create(name=LATE_OFFICE, kind="title_office")
        for office_name, series_name, kind, title, body, day in NOTICES:
            office = Organization.get(Organization.name == office_name,
                                      Organization.kind == "title_office")
            series = Series.get(Series.name == series_name)
            OfficeSeries.get_or_create(organization=office, series=series)
            if Notice.get_or_none(Notice.title == title) is not None:
                continue
            notice = Notice.create(series=series, year=2021, kind=kind, organization=office,
                                   title=title, body_md=body,
                                   body_html=markdown.render_markdown(body), published=True,
                                   first_published_at=_published_at(day),
                                   created_at=_published_at(day), updated_at=clock.utcnow())
            if kind == "guide" and media_root:
                _attach(notice, media_root)


def _attach(notice: Notice, media_root: str) -> None:
    import hashlib
    import secrets
    from pathlib import Path

    kind = attachments.sniff(GUIDE_PDF, len(GUIDE_PDF))
    stored = f"{secrets.token_hex(16)}.{kind}"
    folder = Path(media_root) / "notices"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(GUIDE_PDF)
    NoticeAttachment.create(notice=notice, filename="2021年度工程技术系列学习指南.pdf", kind=kind,
                            size_bytes=len(GUIDE_PDF), sha256=hashlib.sha256(GUIDE_PDF).hexdigest(),
                            stored_name=stored)
