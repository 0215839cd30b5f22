"""Series notices and study guides: public reading, the title-committee office's writing and
publishing (with attachments), and the city admin's view of who published by the deadline."""

from flask import Blueprint, abort, current_app, flash, request, send_file
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField, StringField
from wtforms.fields import TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from xuetang.extensions import limiter
from xuetang.models import Series, StudyYear
from xuetang.rules.notices import KINDS
from xuetang.services import attachments, notices
from xuetang.services.markdown import MAX_MARKDOWN_CHARS
from xuetang.services.notices import NoticeFields
from xuetang.services.refusals import Refused
from xuetang.web import DB_INT_MAX, bounded, redirect_to, render
from xuetang.web.access import account_key, config_limit, roles_required

bp = Blueprint("notices", __name__, url_prefix="/notices")


class NoticeForm(FlaskForm):
    series = SelectField("职称系列", coerce=int)
    year = IntegerField("年度", validators=[NumberRange(2000, 2100, "年度不正确")])
    kind = SelectField("类型", choices=[SelectChoice(k, v) for k, v in KINDS.items()])
    title = StringField("标题", validators=[DataRequired("请填写标题"), Length(max=200)])
    body = TextAreaField("正文（Markdown）", validators=[Length(max=MAX_MARKDOWN_CHARS)])


@bp.route("/")
def index():
    """Public: the published notices and study guides, newest first, optionally of one series."""
    series_id = request.args.get("series", type=bounded(1, DB_INT_MAX))
    series = Series.get_or_none(Series.id == series_id) if series_id else None
    return render("notices/index.html", series=series,
                  notices=notices.published([series.id] if series else None, limit=50))


@bp.route("/<int:notice_id>")
def notice(notice_id: int):
    """Public: one published notice (a draft only for its office and the city admin)."""
    found = notices.readable_notice(current_user, notice_id)
    if found is None:
        abort(404)
    return render("notices/notice.html", notice=found, kinds=KINDS,
                  attachments=notices.attachments_of(found),
                  can_edit=notices.can_edit(current_user, found))


@bp.route("/<int:notice_id>/files/<int:attachment_id>")
def attachment(notice_id: int, attachment_id: int):
    """An attachment of a readable notice, always as a download of its checked type."""
    found = notices.attachment_file(current_user, notice_id, attachment_id)
    if found is None or not found[1].exists():
        abort(404)
    item, path = found
    return send_file(path, mimetype=attachments.MIMETYPES[item.kind], as_attachment=True,
                     download_name=item.filename, max_age=0)


@bp.route("/manage")
@roles_required("uploader")
def manage():
    """The office's notices and guides (drafts and published)."""
    return render("notices/manage.html", notices=notices.office_notices(current_user),
                  series=notices.writable_series(current_user), kinds=KINDS)


def _form_page(form, notice_obj, error=None):
    return render("notices/edit.html", form=form, notice=notice_obj, error=error,
                  status=400 if (error or form.errors) else 200)


def _form(notice_obj=None) -> NoticeForm:
    form = NoticeForm(obj=None)
    form.series.choices = [SelectChoice(s.id, s.name)
                           for s in notices.writable_series(current_user)]
    if request.method == "GET":
        if notice_obj is not None:
            form.series.data, form.year.data = notice_obj.series_id, notice_obj.year
            form.kind.data, form.title.data = notice_obj.kind, notice_obj.title
            form.body.data = notice_obj.body_md
        else:
            current = StudyYear.current()
            form.year.data = current.year if current else None
    return form


@bp.route("/new", methods=["GET", "POST"])
@roles_required("uploader")
def new():
    """Write a notice or study guide for one of the office's series (saved as a draft)."""
    form = _form()
    if not form.series.choices:
        return _form_page(form, None, "本机构尚未指定负责的职称系列，请联系市人社局设置。")
    if form.validate_on_submit():
        try:
            saved = notices.save_notice(current_user, _fields(form))
        except Refused as err:
            return _form_page(form, None, err.message)
        flash("已保存草稿；发布后公众和本系列人员即可看到。", "success")
        return redirect_to("notices.notice", notice_id=saved.id)
    return _form_page(form, None)


def _fields(form) -> NoticeFields:
    return NoticeFields(series_id=form.series.data, year=form.year.data, kind=form.kind.data,
                        title=form.title.data, body_md=form.body.data or "")


@bp.route("/<int:notice_id>/edit", methods=["GET", "POST"])
@roles_required("uploader")
def edit(notice_id: int):
    """Change a notice of the office (published ones change in place)."""
    found = notices.readable_notice(current_user, notice_id)
    if found is None or found.organization_id not in notices.office_ids(current_user):
        abort(404 if found is None else 403)
    form = _form(found)
    if form.validate_on_submit():
        try:
            notices.save_notice(current_user, _fields(form), notice_id)
        except Refused as err:
            return _form_page(form, found, err.message)
        flash("已保存", "success")
        return redirect_to("notices.notice", notice_id=notice_id)
    return _form_page(form, found)


def _act(notice_id: int, action, message: str):
    try:
        action()
    except Refused as err:
        abort(err.status)
    flash(message, "success")
    return redirect_to("notices.notice", notice_id=notice_id)


@bp.route("/<int:notice_id>/publish", methods=["POST"])
@roles_required("uploader")
def publish(notice_id: int):
    """Publish: shown on the public page and in the plaza of its series."""
    return _act(notice_id, lambda: notices.set_published(current_user, notice_id, True), "已发布")


@bp.route("/<int:notice_id>/withdraw", methods=["POST"])
@roles_required("uploader")
def withdraw(notice_id: int):
    """Withdraw from public view (its first publication date stays on record)."""
    return _act(notice_id, lambda: notices.set_published(current_user, notice_id, False),
                "已撤回")


@bp.route("/<int:notice_id>/files", methods=["POST"])
@roles_required("uploader")
@limiter.limit(config_limit("NOTICE_UPLOAD_RATE_LIMIT"), key_func=account_key)
def upload(notice_id: int):
    """Attach a PDF, DOCX or XLSX (checked by content, bounded size)."""
    upload_file = request.files.get("file")
    if upload_file is None:
        flash("请选择要上传的文件。", "error")
        return redirect_to("notices.notice", notice_id=notice_id)
    limit = current_app.config["NOTICE_ATTACHMENT_MAX_BYTES"]
    data = upload_file.stream.read(limit + 1)
    upload_file.close()
    try:
        notices.add_attachment(current_user, notice_id, data, upload_file.filename or "")
    except Refused as err:
        if err.status in (403, 404):
            abort(err.status)
        found = notices.readable_notice(current_user, notice_id)
        return render("notices/notice.html", notice=found, kinds=KINDS, can_edit=True,
                      attachments=notices.attachments_of(found),
                      upload_error=err.message, status=err.status)
    flash("附件已上传", "success")
    return redirect_to("notices.notice", notice_id=notice_id)


@bp.route("/<int:notice_id>/files/<int:attachment_id>/delete", methods=["POST"])
@roles_required("uploader")
def remove(notice_id: int, attachment_id: int):
    """Remove an attachment."""
    return _act(notice_id, lambda: notices.remove_attachment(current_user, notice_id,
                                                             attachment_id), "附件已删除")


@bp.route("/filing")
@bp.route("/filing/<int:year>")
@roles_required("city_admin")
def filing(year: int | None = None):
    """Per series: was its notice published by the deadline, late, or not at all."""
    if year is None:
        current = StudyYear.current()
        if current is None:
            abort(404)
        year = current.year
    try:
        overview = notices.filing_overview(year)
    except Refused as err:
        abort(err.status)
    return render("notices/filing.html", **overview)


@bp.route("/offices", methods=["POST"])
@roles_required("city_admin")
def assign_office():
    """Say which title-committee office answers for a series (or take it away)."""
    office = request.form.get("office", type=bounded(1, DB_INT_MAX))
    series = request.form.get("series", type=bounded(1, DB_INT_MAX))
    year = request.form.get("year", type=bounded(2000, 2100)) or 2021
    if office is None or series is None:
        abort(400)
    try:
        notices.assign_office(current_user, office, series, request.form.get("assigned") != "0")
    except Refused as err:
        abort(err.status)
    flash("已更新负责机构", "success")
    return redirect_to("notices.filing", year=year)
