"""The city admin's area: organizations with their admin accounts, and each year's policy."""

from flask import Blueprint, Response, abort, flash
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from xuetang.models import ORG_KINDS, StudyYear
from xuetang.services.organizations import create_organization, districts, organizations_page
from xuetang.services.refusals import Refused
from xuetang.services.study_years import (
    EDITABLE_FIELDS,
    POLICY_LABELS,
    study_year,
    study_years_page,
    update_study_year,
)
from xuetang.web import redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


class OrganizationForm(FlaskForm):
    name = StringField("机构名称", validators=[DataRequired("请填写机构名称"), Length(max=100)])
    kind = SelectField("机构类型", choices=[SelectChoice(k, v) for k, v in ORG_KINDS.items()])
    district = SelectField("所属区县", coerce=int)
    admin_username = StringField("管理员用户名", validators=[
        DataRequired("请填写管理员用户名"),
        Regexp(r"^[A-Za-z][A-Za-z0-9_.-]{3,31}$",
               message="用户名需以字母开头，4-32位字母、数字或 _ . -"),
    ])


class StudyYearForm(FlaskForm):
    # Field names are EDITABLE_FIELDS (services.study_years), in the order the page shows them.
    min_total_hours = DecimalField(POLICY_LABELS["min_total_hours"], places=2,
                                   validators=[NumberRange(0, 1000)])
    min_public_hours = DecimalField(POLICY_LABELS["min_public_hours"], places=2,
                                    validators=[NumberRange(0, 1000)])
    min_professional_hours = DecimalField(POLICY_LABELS["min_professional_hours"], places=2,
                                          validators=[NumberRange(0, 1000)])
    window_start = DateField(POLICY_LABELS["window_start"])
    window_end = DateField(POLICY_LABELS["window_end"])
    minutes_per_hour = IntegerField(POLICY_LABELS["minutes_per_hour"], validators=[NumberRange(10, 120)])
    filing_close = DateField(POLICY_LABELS["filing_close"], validators=[Optional()])
    competition_public_cap = DecimalField(POLICY_LABELS["competition_public_cap"], places=2,
                                          validators=[NumberRange(0, 100)])
    competition_professional_cap = DecimalField(POLICY_LABELS["competition_professional_cap"], places=2,
                                                validators=[NumberRange(0, 100)])
    seminar_hours_per_day = DecimalField(POLICY_LABELS["seminar_hours_per_day"], places=2,
                                         validators=[NumberRange(0, 24)])


def _new_organization_page(form: OrganizationForm, error: str | None) -> Response:
    """The form page, shown the same way for a field error and for the service's refusal."""
    return render("admin/new_organization.html", form=form, error=error,
                  status=400 if (error or form.errors) else 200)


def _year_edit_page(form: StudyYearForm, row: StudyYear, error: str | None) -> Response:
    """The policy form, shown the same way for a field error and for inconsistent values."""
    return render("admin/year_edit.html", form=form, study_year=row, error=error,
                  fields=EDITABLE_FIELDS,
                  status=400 if (error or form.errors) else 200)


@bp.route("/orgs")
@roles_required("city_admin")
def organizations():
    """All organizations with their admin accounts."""
    return render("admin/organizations.html", **organizations_page())


@bp.route("/orgs/new", methods=["GET", "POST"])
@roles_required("city_admin")
def new_organization():
    """Create an organization and its admin account (a one-time password is shown once)."""
    form = OrganizationForm()
    form.district.choices = [SelectChoice(0, "（市级，无区县）")] + [
        SelectChoice(d.id, d.name) for d in districts()]
    if not form.validate_on_submit():
        return _new_organization_page(form, None)
    try:
        created = create_organization(form.name.data, form.kind.data, form.district.data,
                                      form.admin_username.data)
    except Refused as err:
        return _new_organization_page(form, err.message)
    return render("admin/created.html", org=created.org, account=created.account,
                  password=created.password)


@bp.route("/years")
@roles_required("city_admin")
def study_years():
    """Each year's policy."""
    return render("admin/years.html", **study_years_page())


@bp.route("/years/<int:year>", methods=["GET", "POST"])
@roles_required("city_admin")
def edit_study_year(year: int):
    """Edit one year's policy; the change is recorded with who made it."""
    try:
        row = study_year(year)
    except Refused as err:
        abort(err.status)
    form = StudyYearForm(obj=row)
    if not form.validate_on_submit():
        return _year_edit_page(form, row, None)
    values = {name: form[name].data for name in EDITABLE_FIELDS}
    try:
        update_study_year(row, values, current_user.account.id)
    except Refused as err:
        return _year_edit_page(form, row, err.message)
    flash(f"{year}年度政策已保存", "success")
    return redirect_to("admin.study_years")
