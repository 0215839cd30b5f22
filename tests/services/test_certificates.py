"""Certificates: frozen at issue, reissue supersedes, verification of known, unknown and malformed
codes (SQLite and PostgreSQL)."""

import json
from decimal import Decimal

import pytest

from xuetang.models import AuditEvent, Certificate, LedgerLine, Person
from xuetang.rules.certificates import grouped
from xuetang.services import certificates
from xuetang.services.certificates import CertificateRefused


@pytest.fixture
def ctx(app, db):
    with app.app_context():
        yield Person.get(Person.real_name == "王建华")


def test_issued_certificate_shows_the_year_as_the_rules_count_it(ctx):
    cert = certificates.issue(ctx, 2021, None)
    content = cert.frozen
    # 30 public online hours; 40 seminar + 8 competition professional: 48 of 60, not met.
    assert content["hours"] == {"public": "30.00", "professional": "48.00", "total": "78.00"}
    assert content["met"] is False and content["exempt"] is False
    assert content["id_masked"] == "370102********2316" and "198503" not in cert.content
    assert content["employer"] == "济南泉城示范科技有限公司" and content["series"] == "工程技术"
    assert {row["source"] for row in content["by_source"]} == {"线上学习", "高级研修",
                                                               "技能竞赛/行业比赛"}


def test_certificate_is_frozen_after_a_later_ledger_line(ctx):
    cert = certificates.issue(ctx, 2021, None)
    before = cert.content
    LedgerLine.append(ctx, 2021, "professional", "seminar", hours=Decimal(16),
                      evidence="后来的高级研修")
    again = Certificate.get_by_id(cert.id)
    assert again.content == before and again.frozen["hours"]["professional"] == "48.00"
    assert certificates.verify(cert.code).content["hours"]["total"] == "78.00"
    page = certificates.page_for(ctx, 2021)
    assert page.certificate.id == cert.id and page.changed_since is True
    again.content = json.dumps({"hours": "999"})
    with pytest.raises(PermissionError):
        again.save()
    assert Certificate.get_by_id(cert.id).content == before


def test_reissue_makes_a_new_code_and_the_old_one_shows_superseded(ctx):
    first = certificates.issue(ctx, 2021, None)
    LedgerLine.append(ctx, 2021, "professional", "seminar", hours=Decimal(16))
    second = certificates.issue(ctx, 2021, None)
    assert second.code != first.code and second.frozen["hours"]["professional"] == "64.00"
    assert second.frozen["met"] is True
    old = certificates.verify(first.code)
    assert old.superseded and old.as_json()["status"] == "superseded"
    assert old.as_json()["valid"] is False and old.content["hours"]["professional"] == "48.00"
    new = certificates.verify(grouped(second.code).lower())
    assert not new.superseded and new.as_json()["valid"] is True
    assert certificates.current_certificate(ctx, 2021).id == second.id
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.subject.contains("王建华"))
               .order_by(AuditEvent.id)]
    assert actions == ["issued", "reissued"]


def test_verification_masks_the_name(ctx):
    cert = certificates.issue(ctx, 2021, None)
    found = certificates.verify(cert.code)
    assert found.masked_name == "王*华"
    assert "王建华" not in json.dumps(found.as_json(), ensure_ascii=False)


def test_unknown_and_malformed_codes_are_refused(ctx):
    with pytest.raises(CertificateRefused) as unknown:
        certificates.verify("ABCD-EFGH-JKMN-PQRS")
    assert unknown.value.status == 404 and "未找到" in unknown.value.message
    with pytest.raises(CertificateRefused) as malformed:
        certificates.verify("not-a-code!")
    assert malformed.value.status == 404 and "格式不正确" in malformed.value.message


def test_a_year_with_no_policy_has_no_certificate(ctx):
    with pytest.raises(CertificateRefused) as err:
        certificates.issue(ctx, 1999, None)
    assert err.value.status == 404
    assert not Certificate.select().where(Certificate.year == 1999).exists()


def test_demo_has_a_current_and_a_superseded_certificate(ctx):
    li = Person.get(Person.real_name == "李秀梅")
    issued = list(Certificate.select().where(Certificate.person == li).order_by(Certificate.id))
    assert len(issued) == 2 and issued[0].superseded_by_id == issued[1].id
    assert certificates.verify(issued[0].code).superseded
    assert not certificates.verify(issued[1].code).superseded
