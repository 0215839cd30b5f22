"""The employer's staff: the real-name roster, its import, search and edits."""

from flask import Blueprint, Response, abort, flash, request
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from xuetang.extensions import limiter
from xuetang.models import Organization
from xuetang.services import activation, roster, roster_uploads
from xuetang.services.people import (
    NAME_MAX,
    PHONE,
    PHONE_ERROR,
    editable_person,
    employers_page,
    series_in_order,
    staff_list_page,
    update_person,
    visible_employer,
)
from xuetang.services.refusals import Refused
from xuetang.web import MAX_PAGE, bounded, redirect_to, render
from xuetang.web.access import account_key, config_limit, roles_required

bp = Blueprint("staff", __name__, url_prefix="/staff")


class UploadForm(FlaskForm):
    roster = FileField("名册文件（.xlsx 或 .csv）", validators=[FileRequired("请选择名册文件")])


class PersonForm(FlaskForm):
    real_name = StringField("姓名", validators=[DataRequired("姓名不能为空"),
                                              Length(max=NAME_MAX)])
    phone = StringField("手机号", validators=[Regexp(PHONE, message=PHONE_ERROR)])
    series = SelectField("职称系列", coerce=int)


def _writable_employer(org_id: int) -> Organization:
    """The employer whose roster the signed-in admin may change, else the refusal's error page."""
    try:
        return visible_employer(current_user, org_id, write=True)
    except Refused as err:
        abort(err.status)


def _import_page(form: UploadForm, org: Organization, error: str | None) -> Response:
    """The upload page, first shown, after a form error, or after an unreadable file alike."""
    return render("staff/import.html", form=form, org=org, error=error,
                  status=400 if error else 200)


@bp.route("/")
@roles_required("employer_admin", "district_admin", "city_admin")
def index():
    """The employers whose staff this account may see."""
    page = employers_page(current_user)
    if len(page["employers"]) == 1 and current_user.has_role("employer_admin"):
        return redirect_to("staff.people", org_id=page["employers"][0].id)
    return render("staff/index.html", **page)


@bp.route("/<int:org_id>/people")
@roles_required("employer_admin", "district_admin", "city_admin")
def people(org_id: int):
    """The staff list with search and pagination (htmx swaps the list fragment)."""
    try:
        page = staff_list_page(current_user, org_id, request.args.get("q", ""),
                               request.args.get("page", 1, type=bounded(1, MAX_PAGE)))
    except Refused as err:
        abort(err.status)
    return render("staff/people.html", "staff/_people.html", **page)


@bp.route("/<int:org_id>/people/<int:person_id>/edit", methods=["GET", "POST"])
@roles_required("employer_admin")
def edit_person(org_id: int, person_id: int):
    """Edit one staff member's name, phone and series (the ID number is fixed)."""
    try:
        org, person = editable_person(current_user, org_id, person_id)
    except Refused as err:
        abort(err.status)
    form = PersonForm(obj=person)
    form.series.choices = [SelectChoice(s.id, s.name) for s in series_in_order()]
    if request.method == "GET":
        form.series.data = person.series_id
    if form.validate_on_submit():
        update_person(person, form.real_name.data, form.phone.data, form.series.data)
        flash(f"已保存 {form.real_name.data}", "success")
        return redirect_to("staff.people", org_id=org.id)
    return render("staff/edit.html", form=form, org=org, person=person,
                  status=400 if form.errors else 200)


@bp.route("/<int:org_id>/import", methods=["GET", "POST"])
@roles_required("employer_admin")
@limiter.limit(config_limit("ROSTER_IMPORT_RATE_LIMIT"), key_func=account_key, methods=["POST"])
def import_roster(org_id: int):
    """Upload a roster: every row is checked and shown before anything is written."""
    org = _writable_employer(org_id)
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.roster.data
        data = upload.read()
        upload.close()
        try:
            check, token = roster_uploads.check_upload(data, org, current_user.account.id,
                                                       upload.filename or "")
        except Refused as err:
            return _import_page(form, org, err.message)
        return render("staff/preview.html", org=org, check=check, token=token,
                      filename=upload.filename)
    return _import_page(form, org, form.roster.errors[0] if form.roster.errors else None)


@bp.route("/<int:org_id>/import/confirm", methods=["POST"])
@roles_required("employer_admin")
def confirm_import(org_id: int):
    """Apply the valid rows of a checked roster in one transaction (re-checked against now)."""
    org = _writable_employer(org_id)
    try:
        imported = roster_uploads.confirm_upload(request.form.get("token", ""), org,
                                                 current_user.account.id)
    except Refused as err:
        abort(err.status)
    flash(f"已导入 {imported.applied} 人；{imported.invalid} 行有错误未导入。"
          "请在“待激活人员与激活码”中生成激活码发给本人，首次登录使用激活码。", "success")
    return redirect_to("staff.people", org_id=org.id)


@bp.route("/<int:org_id>/activation", methods=["GET", "POST"])
@roles_required("employer_admin")
def activation_codes(org_id: int):
    """Who still has to activate; POST: new codes for all of them as an XLSX sheet (shown once)."""
    org = _writable_employer(org_id)
    if request.method == "POST":
        try:
            data = activation.employer_sheet(org, current_user.account)
        except Refused as err:
            flash(err.message, "error")
            return redirect_to("staff.activation_codes", org_id=org.id)
        response = Response(data, mimetype=roster.TEMPLATE_MIMETYPES["xlsx"])
        response.headers["Content-Disposition"] = "attachment; filename=activation-codes.xlsx"
        response.headers["Cache-Control"] = "no-store"
        return response
    return render("staff/activation.html", **activation.employer_page(org))


@bp.route("/<int:org_id>/people/<int:person_id>/activation", methods=["POST"])
@roles_required("employer_admin")
def person_activation_code(org_id: int, person_id: int):
    """A new code for one person (the unused one is revoked), shown once on this page."""
    try:
        org, person = editable_person(current_user, org_id, person_id)
        code, expires = activation.person_code(person, current_user.account)
    except Refused as err:
        abort(err.status)
    response = render("staff/activation_code.html", org=org, person=person, code=code,
                      expires_beijing=activation.beijing_day(expires))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/template.<any(xlsx, csv):kind>")
@roles_required("employer_admin")
def roster_template(kind: str):
    """The roster template to fill in."""
    data, mimetype = roster.roster_template(kind)
    response = Response(data, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=roster-template.{kind}"
    return response
