"""The employer's staff: the real-name roster, its import, search and edits."""

import json
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, request
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from peewee import fn
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from xuetang.models import Organization, Person, Series
from xuetang.services import roster
from xuetang.services.spreadsheets import SpreadsheetError, template_csv, template_xlsx
from xuetang.web import redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("staff", __name__, url_prefix="/staff")
PAGE_SIZE = 20
TOKEN = re.compile(r"^[0-9a-f]{32}$")
STAGED_MAX_AGE = 24 * 3600


class UploadForm(FlaskForm):
    roster = FileField("名册文件（.xlsx 或 .csv）", validators=[FileRequired("请选择名册文件")])


class PersonForm(FlaskForm):
    real_name = StringField("姓名", validators=[DataRequired("姓名不能为空"), Length(max=40)])
    phone = StringField("手机号", validators=[Regexp(r"^1\d{10}$", message="手机号应为11位数字")])
    series = SelectField("职称系列", coerce=int)


def _visible_employer(org_id: int, write: bool = False) -> Organization:
    """The employer if the signed-in account may see (or change) its staff, else 403/404."""
    org = Organization.get_or_none((Organization.id == org_id) & (Organization.kind == "employer"))
    if org is None:
        abort(404)
    if org.id in current_user.org_ids("employer_admin"):
        return org
    if write:
        abort(403)
    if current_user.has_role("city_admin"):
        return org
    if org.district_id and org.district_id in current_user.district_ids("district_admin"):
        return org
    abort(403)


def _staging_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stage(data: bytes, org: Organization, filename: str) -> str:
    """Keep the uploaded file until the admin confirms; returns an unguessable token."""
    folder = _staging_dir()
    for old in folder.glob("*.upload"):
        if time.time() - old.stat().st_mtime > STAGED_MAX_AGE:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    token = secrets.token_hex(16)
    (folder / f"{token}.upload").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps({
        "org": org.id, "account": current_user.account.id, "filename": filename[:100],
    }))
    return token


def _staged(token: str, org: Organization) -> tuple[bytes, dict]:
    if not TOKEN.match(token or ""):
        abort(400)
    folder = _staging_dir()
    meta_file = folder / f"{token}.json"
    if not meta_file.exists():
        abort(410)
    meta = json.loads(meta_file.read_text())
    if meta["org"] != org.id or meta["account"] != current_user.account.id:
        abort(403)
    return (folder / f"{token}.upload").read_bytes(), meta


def _unstage(token: str) -> None:
    folder = _staging_dir()
    (folder / f"{token}.upload").unlink(missing_ok=True)
    (folder / f"{token}.json").unlink(missing_ok=True)


@bp.route("/")
@roles_required("employer_admin", "district_admin", "city_admin")
def index():
    """The employers whose staff this account may see."""
    query = Organization.select().where(Organization.kind == "employer")
    if not current_user.has_role("city_admin"):
        own = current_user.org_ids("employer_admin")
        districts = current_user.district_ids("district_admin")
        query = query.where(Organization.id.in_(own) | Organization.district.in_(districts))
    employers = list(query.order_by(Organization.name))
    if len(employers) == 1 and current_user.has_role("employer_admin"):
        return redirect_to("staff.people", org_id=employers[0].id)
    counts = dict(Person.select(Person.employer, fn.COUNT(Person.id))
                  .where(Person.employer.in_([e.id for e in employers]))
                  .group_by(Person.employer).tuples())
    return render("staff/index.html", employers=employers, counts=counts)


@bp.route("/<int:org_id>/people")
@roles_required("employer_admin", "district_admin", "city_admin")
def people(org_id: int):
    """The staff list with search and pagination (htmx swaps the list fragment)."""
    org = _visible_employer(org_id)
    q = request.args.get("q", "").strip()[:40]
    page = max(1, request.args.get("page", 1, type=int))
    query = Person.select().where(Person.employer == org)
    if q:
        query = query.where(Person.real_name.contains(q) | Person.id_number.startswith(q.upper())
                            | Person.phone.startswith(q))
    total = query.count()
    rows = list(query.order_by(Person.real_name, Person.id).paginate(page, PAGE_SIZE))
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    can_edit = org.id in current_user.org_ids("employer_admin")
    return render("staff/people.html", "staff/_people.html", org=org, rows=rows, q=q,
                  page=page, pages=pages, total=total, can_edit=can_edit)


@bp.route("/<int:org_id>/people/<int:person_id>/edit", methods=["GET", "POST"])
@roles_required("employer_admin")
def edit_person(org_id: int, person_id: int):
    """Edit one staff member's name, phone and series (the ID number is fixed)."""
    org = _visible_employer(org_id, write=True)
    person = Person.get_or_none((Person.id == person_id) & (Person.employer == org))
    if person is None:
        abort(404)
    form = PersonForm(obj=person)
    form.series.choices = [SelectChoice(s.id, s.name)
                          for s in Series.select().order_by(Series.sort)]
    if request.method == "GET":
        form.series.data = person.series_id
    if form.validate_on_submit():
        series = Series.get_by_id(form.series.data)
        Person.update(real_name=form.real_name.data.strip(), phone=form.phone.data,
                      series=series, specialty=None if series.id != person.series_id
                      else person.specialty_id, exempt=series.exempt,
                      ).where(Person.id == person.id).execute()
        flash(f"已保存 {form.real_name.data}", "success")
        return redirect_to("staff.people", org_id=org.id)
    return render("staff/edit.html", form=form, org=org, person=person,
                  status=400 if form.errors else 200)


@bp.route("/<int:org_id>/import", methods=["GET", "POST"])
@roles_required("employer_admin")
def import_roster(org_id: int):
    """Upload a roster: every row is checked and shown before anything is written."""
    org = _visible_employer(org_id, write=True)
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.roster.data
        data = upload.read()
        upload.close()
        try:
            check = roster.check_roster(data, org)
        except SpreadsheetError as err:
            return render("staff/import.html", form=form, org=org, error=str(err), status=400)
        token = _stage(data, org, upload.filename or "") if check.valid else None
        return render("staff/preview.html", org=org, check=check, token=token,
                      filename=upload.filename)
    error = form.roster.errors[0] if form.roster.errors else None
    return render("staff/import.html", form=form, org=org, error=error,
                  status=400 if error else 200)


@bp.route("/<int:org_id>/import/confirm", methods=["POST"])
@roles_required("employer_admin")
def confirm_import(org_id: int):
    """Apply the valid rows of a checked roster in one transaction (re-checked against now)."""
    org = _visible_employer(org_id, write=True)
    token = request.form.get("token", "")
    data, meta = _staged(token, org)
    check = roster.check_roster(data, org)
    applied = roster.apply_roster(check, org)
    _unstage(token)
    flash(f"已导入 {applied} 人；{len(check.invalid)} 行有错误未导入。"
          "导入人员首次登录使用身份证号后六位作为初始密码，登录后须修改。", "success")
    return redirect_to("staff.people", org_id=org.id)


@bp.route("/template.<any(xlsx, csv):kind>")
@roles_required("employer_admin")
def roster_template(kind: str):
    """The roster template to fill in."""
    if kind == "xlsx":
        data = template_xlsx(roster.TEMPLATE_HEADERS, roster.TEMPLATE_EXAMPLE)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        data = template_csv(roster.TEMPLATE_HEADERS, roster.TEMPLATE_EXAMPLE)
        mimetype = "text/csv; charset=utf-8"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=roster-template.{kind}"
    return response
