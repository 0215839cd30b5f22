"""Filings (备案): filers upload rosters and submit them; HR reviews; the city sets the close date."""

from flask import Blueprint, Response, abort, flash, request
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, IntegerField
from wtforms.validators import DataRequired

from xuetang import clock
from xuetang.rules.filings import KIND_LABELS, KINDS
from xuetang.services import filing_review, filings
from xuetang.services.refusals import Refused
from xuetang.web import redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("filings", __name__, url_prefix="/filings")

FILERS = ("industry_dept", "ce_base")
REVIEWERS = ("district_admin", "city_admin")
EVERYONE_IN_FILINGS = FILERS + REVIEWERS


class UploadForm(FlaskForm):
    year = IntegerField("年度", validators=[DataRequired("请选择年度")])
    roster = FileField("备案名册（.xlsx 或 .csv）", validators=[FileRequired("请选择备案名册文件")])


class PeriodForm(FlaskForm):
    close_on = DateField("备案截止日期", validators=[DataRequired("请填写截止日期")])
    reopened = BooleanField("截止后仍重新开放受理（补报）")


def _or_abort(call, *args):
    try:
        return call(*args)
    except Refused as err:
        abort(err.status)


@bp.route("/")
@roles_required(*EVERYONE_IN_FILINGS)
def index():
    """The filer's filings with status and totals; the reviewer's queue."""
    return render("filings/index.html", **filings.index_page(current_user))


def _upload_page(kind: str, form: UploadForm, upload=None, error=None, status=200) -> Response:
    """The upload page with its preview fragment (htmx swaps only the fragment)."""
    years = filings.filing_years()
    if form.year.data is None and years:
        this_year = clock.today().year
        form.year.data = next((y.year for y in years if y.year <= this_year), years[-1].year)
    return render("filings/upload.html", "filings/_preview.html", status=status, kind=kind,
                  kind_label=KIND_LABELS[kind], form=form, upload=upload, error=error,
                  years=years)


@bp.route("/new/<kind>", methods=["GET", "POST"])
@roles_required(*FILERS)
def upload(kind: str):
    """Upload a roster: every row is checked and shown back before anything is submitted."""
    if kind not in KINDS:
        abort(404)
    _or_abort(filings.filer_organization, current_user, kind)
    form = UploadForm()
    if request.method == "GET":
        return _upload_page(kind, form)
    if not form.validate_on_submit():
        errors = form.roster.errors or form.year.errors or ["请求无效，请刷新页面后重试"]
        return _upload_page(kind, form, error=errors[0], status=400)
    file = form.roster.data
    data = file.read()
    file.close()
    try:
        shown = filings.upload_filing(current_user, kind, form.year.data, data,
                                      file.filename or "")
    except Refused as err:
        return _upload_page(kind, form, error=err.message, status=err.status)
    return _upload_page(kind, form, upload=shown)


@bp.route("/template/<kind>.<any(xlsx, csv):file_format>")
@roles_required(*FILERS)
def template(kind: str, file_format: str):
    """The roster template of a kind, with Chinese headers and an example row."""
    data, mimetype = _or_abort(filings.template, kind, file_format)
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=filing-{kind}.{file_format}"
    return response


@bp.route("/<int:filing_id>")
@roles_required(*EVERYONE_IN_FILINGS)
def detail(filing_id: int):
    """One filing: rows, totals, its audit trail and the actions open to this account."""
    page = _or_abort(filings.detail_page, current_user, filing_id)
    return render("filings/detail.html", **page)


@bp.route("/<int:filing_id>/export.csv")
@roles_required(*EVERYONE_IN_FILINGS)
def export(filing_id: int):
    """The filing's rows as CSV, formula-like cells escaped."""
    data, name = _or_abort(filings.export_csv, current_user, filing_id)
    response = Response(data, mimetype=filings.MIMETYPES["csv"])
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response


def _step(step, filing_id: int, done: str, *args) -> Response:
    """Run one review step; a refusal is flashed on the filing's page."""
    try:
        step(current_user, filing_id, *args)
    except Refused as err:
        if err.status in (403, 404):
            abort(err.status)
        flash(err.message, "error")
    else:
        flash(done, "success")
    return redirect_to("filings.detail", filing_id=filing_id)


@bp.route("/<int:filing_id>/submit", methods=["POST"])
@roles_required(*FILERS)
def submit(filing_id: int):
    """Send a checked draft to the reviewer."""
    return _step(filing_review.submit, filing_id, "已提交审核")


@bp.route("/<int:filing_id>/approve", methods=["POST"])
@roles_required(*REVIEWERS)
def approve(filing_id: int):
    """Approve: every row's hours are written to the ledger at once."""
    return _step(filing_review.approve, filing_id, "已审核通过，学时已计入")


@bp.route("/<int:filing_id>/reject", methods=["POST"])
@roles_required(*REVIEWERS)
def reject(filing_id: int):
    """Reject with a reason; nothing is credited."""
    return _step(filing_review.reject, filing_id, "已驳回", request.form.get("reason", ""))


@bp.route("/<int:filing_id>/withdraw", methods=["POST"])
@roles_required(*EVERYONE_IN_FILINGS)
def withdraw(filing_id: int):
    """Withdraw; an applied filing's lines are reversed, nothing is deleted."""
    return _step(filing_review.withdraw, filing_id, "已撤回", request.form.get("reason", ""))


@bp.route("/years/<int:year>", methods=["GET", "POST"])
@roles_required("city_admin")
def period(year: int):
    """A year's filing close date and its reopening (audited)."""
    page = _or_abort(filings.period_page, current_user, year)
    form = PeriodForm(data={"close_on": page["period"].close_on,
                            "reopened": page["period"].reopened})
    if request.method == "POST":
        form = PeriodForm()
        if form.validate_on_submit():
            filing_review.set_period(current_user, year, form.close_on.data, form.reopened.data)
            flash(f"{year}年度备案设置已保存", "success")
            return redirect_to("filings.period", year=year)
    return render("filings/period.html", form=form, status=400 if form.errors else 200, **page)
