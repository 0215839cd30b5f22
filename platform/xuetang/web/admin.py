"""The city admin's area: organizations with their admin accounts, and each year's policy."""

from decimal import Decimal

from flask import Blueprint, Response, abort, current_app, flash
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from xuetang.models import ORG_KINDS, StudyYear
from xuetang.services.organizations import create_organization, districts, organizations_page
from xuetang.services.refusals import Refused
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
    min_total_hours = DecimalField("总学时不少于", places=2, validators=[NumberRange(0, 1000)])
    min_public_hours = DecimalField("公需科目不少于", places=2, validators=[NumberRange(0, 1000)])
    min_professional_hours = DecimalField("专业科目不少于", places=2,
                                          validators=[NumberRange(0, 1000)])
    window_start = DateField("专业课学习开始日期")
    window_end = DateField("专业课学习截止日期")
    minutes_per_hour = IntegerField("每学时分钟数", validators=[NumberRange(10, 120)])
    filing_close = DateField("评委会办事机构发布指南截止日期", validators=[Optional()])
    competition_public_cap = DecimalField("竞赛可抵公需学时上限", places=2,
                                          validators=[NumberRange(0, 100)])
    competition_professional_cap = DecimalField("竞赛可抵专业学时上限", places=2,
                                                validators=[NumberRange(0, 100)])
    seminar_hours_per_day = DecimalField("高级研修每天折算学时", places=2,
                                         validators=[NumberRange(0, 24)])


def _new_organization_page(form: OrganizationForm, error: str | None) -> Response:
    return render("admin/new_organization.html", form=form, error=error,
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
    years = list(StudyYear.select().order_by(StudyYear.year.desc()))
    return render("admin/years.html", years=years)


@bp.route("/years/<int:year>", methods=["GET", "POST"])
@roles_required("city_admin")
def edit_study_year(year: int):
    """Edit one year's policy; the change is recorded with who made it."""
    study_year = StudyYear.for_year(year)
    if study_year is None:
        abort(404)
    form = StudyYearForm(obj=study_year)
    error = None
    if form.validate_on_submit():
        data = {name: getattr(form, name).data for name in form.data if name != "csrf_token"}
        if data["window_start"] > data["window_end"]:
            error = "学习开始日期不能晚于截止日期"
        elif data["min_public_hours"] + data["min_professional_hours"] > data["min_total_hours"]:
            error = "公需与专业学时要求之和不能超过总学时要求"
        else:
            for name, value in data.items():
                if isinstance(value, Decimal):
                    value = value.quantize(Decimal("0.01"))
                setattr(study_year, name, value)
            study_year.save()
            current_app.logger.info("study year %s edited by account %s", year,
                                      current_user.account.id)
            flash(f"{year}年度政策已保存", "success")
            return redirect_to("admin.study_years")
    return render("admin/year_edit.html", form=form, study_year=study_year, error=error,
                  status=400 if (error or form.errors) else 200)
