"""The city admin's area: organizations with their admin accounts, and each year's policy."""

import secrets
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN, IntegrityError
from wtforms import DateField, DecimalField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from xuetang.db import database
from xuetang.models import (
    ADMIN_ROLE_FOR_KIND,
    ORG_KINDS,
    Account,
    District,
    Organization,
    RoleGrant,
    StudyYear,
)
from xuetang.services import accounts
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


@bp.route("/orgs")
@roles_required("city_admin")
def organizations():
    """All organizations with their admin accounts."""
    orgs = list(Organization.select(Organization, District)
                .join(District, on=(Organization.district == District.id), join_type=JOIN.LEFT_OUTER)
                .order_by(Organization.kind, Organization.name))
    admins: dict[int, list[str]] = {}
    for grant in (RoleGrant.select(RoleGrant, Account).join(Account)
                  .where(RoleGrant.organization.is_null(False))):
        admins.setdefault(grant.organization_id, []).append(grant.account.display_name)
    return render("admin/organizations.html", orgs=orgs, admins=admins, kinds=ORG_KINDS)


@bp.route("/orgs/new", methods=["GET", "POST"])
@roles_required("city_admin")
def new_organization():
    """Create an organization and its admin account (a one-time password is shown once)."""
    form = OrganizationForm()
    form.district.choices = [SelectChoice(0, "（市级，无区县）")] + [
        SelectChoice(d.id, d.name) for d in District.select().order_by(District.sort)]
    error = None
    if form.validate_on_submit():
        district = District.get_or_none(District.id == form.district.data)
        if form.kind.data == "district_hr" and district is None:
            error = "区县人社部门必须选择所属区县"
        else:
            password = "Xt-" + secrets.token_urlsafe(9)
            try:
                with database.atomic():
                    org = Organization.create(name=form.name.data.strip(), kind=form.kind.data,
                                              district=district)
                    account = Account.create(username=form.admin_username.data,
                                             password_hash=accounts.hash_password(password),
                                             must_change_password=True)
                    role = ADMIN_ROLE_FOR_KIND[org.kind]
                    accounts.grant(account, role, organization=org,
                                   district=district if role == "district_admin" else None)
            except IntegrityError:
                error = "机构名称或管理员用户名已存在"
            else:
                return render("admin/created.html", org=org, account=account, password=password)
    return render("admin/new_organization.html", form=form, error=error,
                  status=400 if (error or form.errors) else 200)


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
