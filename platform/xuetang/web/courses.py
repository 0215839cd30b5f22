"""The uploader's area: courses, their ordered lessons, resumable video upload, transcoding status.

Uploaders (CE bases, title-committee offices) manage their own organization's courses; the city
admin manages all. Video arrives in chunks (video/chunks.py) acknowledged one by one, so a dropped
connection resumes where it stopped; the assembled file is checked by content (ffmpeg probe)
before it becomes the lesson's source, then a background job transcodes it (xuetang.jobs.transcode).
"""

import contextlib
import unicodedata
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, jsonify, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN, IntegrityError, fn
from wtforms import DecimalField, RadioField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.fields import TextAreaField
from wtforms.i18n import get_translations
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from xuetang.db import database
from xuetang.jobs import transcode
from xuetang.models import Course, CourseSeries, Lesson, Organization, Series, utcnow
from xuetang.models.courses import CATEGORY_LABELS
from xuetang.video import chunks, media_store
from xuetang.video.probe import NotAVideo, TranscodeError, ffmpeg_binary, probe
from xuetang.web import redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("courses", __name__, url_prefix="/courses")

MANAGERS = ("uploader", "city_admin")
UPLOADER_ORG_KINDS = ("ce_base", "title_office")
STAGED_MAX_AGE = 3 * 24 * 3600  # an abandoned upload is removed after three days
MSG_UPLOAD_GONE = "上传会话已失效，请重新选择文件上传。"


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        known = {getattr(choice, "value", None) or choice[0] for choice in self.choices or []}
        if any(value not in known for value in self.data or []):
            raise ValidationError("所选职称系列不存在，请刷新页面后重新选择")


class CourseForm(FlaskForm):
    class Meta:
        def get_translations(self, form):
            return get_translations(["zh"])  # WTForms' own messages in Chinese

    title = StringField("课程名称", validators=[DataRequired("请填写课程名称"),
                                            Length(max=100, message="课程名称不超过100字")])
    description = TextAreaField("课程简介", validators=[Length(max=2000, message="简介不超过2000字")])
    category = RadioField("科目类别", choices=[SelectChoice(k, v) for k, v in CATEGORY_LABELS.items()],
                          validators=[InputRequired("请选择科目类别")])
    series = MultiCheckboxField("所属职称系列（专业科目必选，可多选）", coerce=int)
    declared_hours = DecimalField("课程学时", places=2, validators=[
        InputRequired("请填写课程学时"),
        NumberRange(Decimal("0.5"), Decimal(100), message="课程学时应在 0.5 到 100 之间")])
    organization = SelectField("所属机构", coerce=int)

    def validate_series(self, field):
        if self.category.data == "professional" and not field.data:
            raise ValidationError("专业科目至少选择一个职称系列")

    def validate_declared_hours(self, field):
        if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError("课程学时最多保留两位小数")


# ---------------------------------------------------------------------------------------------
# who may manage what


def manageable_org_ids() -> set[int] | None:
    """Organizations whose courses the signed-in account manages; None = all (city admin)."""
    if current_user.has_role("city_admin"):
        return None
    return current_user.org_ids("uploader")


def manageable_course(course_id: int) -> Course:
    course = Course.get_or_none(Course.id == course_id)
    if course is None:
        abort(404)
    allowed = manageable_org_ids()
    if allowed is not None and course.organization_id not in allowed:
        abort(403)
    return course


def manageable_lesson(lesson_id: int) -> Lesson:
    lesson = Lesson.get_or_none(Lesson.id == lesson_id)
    if lesson is None:
        abort(404)
    manageable_course(lesson.course_id)
    return lesson


def _organization_choices() -> list[Organization]:
    allowed = manageable_org_ids()
    query = Organization.select().where(Organization.kind.in_(UPLOADER_ORG_KINDS))
    if allowed is not None:
        query = Organization.select().where(Organization.id.in_(allowed))
    return list(query.order_by(Organization.name))


def _course_form(course: Course | None = None) -> CourseForm:
    form = CourseForm(obj=course) if course else CourseForm()
    form.series.choices = [SelectChoice(s.id, s.name)
                           for s in Series.select().where(~Series.exempt).order_by(Series.sort)]
    orgs = _organization_choices()
    form.organization.choices = [SelectChoice(o.id, o.name) for o in orgs]
    if course is not None and request.method == "GET":
        form.series.data = [link.series_id for link in course.series_links]
        form.organization.data = course.organization_id
    if len(orgs) == 1 and not form.organization.data:
        form.organization.data = orgs[0].id
    return form


def _save_course(form: CourseForm, course: Course | None) -> Course:
    values = {
        "title": form.title.data.strip(),
        "description": (form.description.data or "").strip(),
        "category": form.category.data,
        "declared_hours": form.declared_hours.data,
        "organization": form.organization.data,
        "updated_at": utcnow(),
    }
    with database.atomic():
        if course is None:
            course = Course.create(created_by=current_user.account.id, **values)
        else:
            for key, value in values.items():
                setattr(course, key, value)
            course.save()
        CourseSeries.delete().where(CourseSeries.course == course).execute()
        if course.category == "professional":  # public courses belong to every series
            for series_id in sorted(set(form.series.data)):
                CourseSeries.create(course=course, series=series_id)
    return course


def lessons_of(course: Course) -> list[Lesson]:
    return list(Lesson.select().where(Lesson.course == course).order_by(Lesson.position, Lesson.id))


def series_names(course: Course) -> list[str]:
    return [link.series.name for link in
            CourseSeries.select(CourseSeries, Series).join(Series)
            .where(CourseSeries.course == course).order_by(Series.sort)]


def _course_page(course: Course, error: str | None = None, status: int = 200):
    """The course page, shown alike whether it is asked for or a change on it was refused."""
    return render("courses/course.html", course=course, lessons=lessons_of(course),
                  series=series_names(course), error=error, status=status)


# ---------------------------------------------------------------------------------------------
# courses


@bp.route("/")
@roles_required(*MANAGERS)
def index():
    """The courses this account manages, with lesson counts and state."""
    query = (Course.select(Course, fn.COUNT(Lesson.id).alias("lesson_count"))
             .join(Lesson, JOIN.LEFT_OUTER, on=(Lesson.course == Course.id))
             .group_by(Course.id)
             .order_by(Course.updated_at.desc()))
    allowed = manageable_org_ids()
    if allowed is not None:
        query = query.where(Course.organization.in_(allowed))
    courses = list(query)
    orgs = {o.id: o.name for o in Organization.select().where(
        Organization.id.in_({c.organization_id for c in courses}))}
    return render("courses/index.html", courses=courses, orgs=orgs)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_course():
    """Create a course (a draft until published)."""
    form = _course_form()
    if not form.organization.choices:
        abort(403)
    if form.validate_on_submit():
        course = _save_course(form, None)
        flash("课程已创建，请添加课时并上传视频。", "success")
        return redirect_to("courses.course", course_id=course.id)
    status = 400 if form.is_submitted() else 200
    return render("courses/edit.html", form=form, course=None, status=status)


@bp.route("/<int:course_id>")
@roles_required(*MANAGERS)
def course(course_id: int):
    """One course with its lessons, their upload widgets and transcoding status."""
    return _course_page(manageable_course(course_id))


@bp.route("/<int:course_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit_course(course_id: int):
    """Change a course's title, description, category, series and hours."""
    course = manageable_course(course_id)
    form = _course_form(course)
    if form.validate_on_submit():
        _save_course(form, course)
        flash("课程信息已保存。", "success")
        return redirect_to("courses.course", course_id=course.id)
    status = 400 if form.is_submitted() else 200
    return render("courses/edit.html", form=form, course=course, status=status)


@bp.route("/<int:course_id>/publish", methods=["POST"])
@roles_required(*MANAGERS)
def publish(course_id: int):
    """Publish (every lesson playable) or withdraw a course."""
    course = manageable_course(course_id)
    publish_it = request.form.get("publish") == "1"
    lessons = lessons_of(course)
    error = None
    if publish_it and not lessons:
        error = "课程还没有课时，不能发布。"
    elif publish_it and any(not lesson.is_ready for lesson in lessons):
        error = "还有课时未上传视频或未转码完成，全部课时可播放后才能发布。"
    if error:
        return _course_page(course, error, 400)
    course.published = publish_it
    course.updated_at = utcnow()
    course.save()
    flash("课程已发布，学员可在专业课广场看到。" if publish_it else "课程已撤回为草稿。", "success")
    return redirect_to("courses.course", course_id=course.id)


# ---------------------------------------------------------------------------------------------
# lessons


@bp.route("/<int:course_id>/lessons", methods=["POST"])
@roles_required(*MANAGERS)
def add_lesson(course_id: int):
    """Append a lesson (its video is uploaded next)."""
    course = manageable_course(course_id)
    title = (request.form.get("title") or "").strip()
    error = None
    if not title:
        error = "请填写课时名称。"
    elif len(title) > 100:
        error = "课时名称不超过100字。"
    if error:
        return _course_page(course, error, 400)
    last = Lesson.select(fn.MAX(Lesson.position)).where(Lesson.course == course).scalar()
    Lesson.create(course=course, title=title, position=(last or 0) + 1)
    course.updated_at = utcnow()
    course.save()
    return redirect_to("courses.course", course_id=course.id)


@bp.route("/lessons/<int:lesson_id>/move", methods=["POST"])
@roles_required(*MANAGERS)
def move_lesson(lesson_id: int):
    """Swap a lesson with its neighbour (direction=up|down)."""
    lesson = manageable_lesson(lesson_id)
    lessons = lessons_of(lesson.course)
    index = next(i for i, item in enumerate(lessons) if item.id == lesson.id)
    other = index - 1 if request.form.get("direction") == "up" else index + 1
    if 0 <= other < len(lessons):
        lessons[index], lessons[other] = lessons[other], lessons[index]
        with database.atomic():
            for position, item in enumerate(lessons, start=1):
                Lesson.update(position=position).where(Lesson.id == item.id).execute()
    return redirect_to("courses.course", course_id=lesson.course_id)


@bp.route("/lessons/<int:lesson_id>/delete", methods=["POST"])
@roles_required(*MANAGERS)
def delete_lesson(lesson_id: int):
    """Remove a lesson of a draft course, with its files."""
    lesson = manageable_lesson(lesson_id)
    course = lesson.course
    if course.published:
        return _course_page(course, "已发布的课程不能删除课时，请先撤回为草稿。", 400)
    root = current_app.config["MEDIA_ROOT"]
    try:
        with database.atomic():
            lesson.delete_instance()
    except IntegrityError:  # study credits keep the lesson as their evidence
        return _course_page(course, "该课时已有学员的学时记录，不能删除；可以重新上传视频替换。", 409)
    if lesson.upload_token:
        _discard_upload(lesson.upload_token)
    media_store.remove_lesson(root, lesson.id)
    flash("课时已删除。", "success")
    return redirect_to("courses.course", course_id=course.id)


@bp.route("/lessons/<int:lesson_id>/status")
@roles_required(*MANAGERS)
def lesson_status(lesson_id: int):
    """The lesson's status fragment; htmx polls it while the video is waiting or transcoding."""
    lesson = manageable_lesson(lesson_id)
    return render("courses/_lesson_status.html", "courses/_lesson_status.html", lesson=lesson)


@bp.route("/lessons/<int:lesson_id>/retry", methods=["POST"])
@roles_required(*MANAGERS)
def retry(lesson_id: int):
    """Queue a failed transcode again."""
    lesson = manageable_lesson(lesson_id)
    error = None
    if lesson.status != "failed":
        error = "只有转码失败的课时可以重试。"
    elif not lesson.source_name:
        error = "源文件不存在，请重新上传视频。"
    if error is None:
        transcode.enqueue_transcode(lesson)
    lesson = Lesson.get_by_id(lesson.id)
    return render("courses/_lesson_status.html", "courses/_lesson_status.html", lesson=lesson,
                  error=error, status=409 if error else 200)


# ---------------------------------------------------------------------------------------------
# chunked upload (JSON answers for static/js/upload.js)


def _staging():
    return media_store.uploads_dir(current_app.config["MEDIA_ROOT"])


def _discard_upload(token: str) -> None:
    with contextlib.suppress(chunks.UploadError):
        chunks.discard(_staging(), token)


def _same_name(stored: str, sent: str) -> bool:
    return unicodedata.normalize("NFC", stored).strip() == unicodedata.normalize("NFC", sent).strip()


def _progress_json(progress) -> dict:
    return {"token": progress.token, "chunk_size": progress.chunk_size,
            "total_size": progress.total_size, "received": progress.received_bytes,
            "next_index": progress.next_index, "chunk_count": progress.chunk_count}


def _upload_error(message: str, status: int = 400):
    return jsonify({"error": message}), status


def _lesson_upload(lesson_id: int, token: str) -> Lesson:
    """The lesson, if `token` is its upload in progress (an old or foreign token: 404)."""
    lesson = manageable_lesson(lesson_id)
    if not token or lesson.upload_token != token:
        abort(404)
    return lesson


@bp.route("/lessons/<int:lesson_id>/upload", methods=["POST"])
@roles_required(*MANAGERS)
def start_upload(lesson_id: int):
    """Open an upload (or resume the lesson's one in progress for the same file)."""
    lesson = manageable_lesson(lesson_id)
    if lesson.status in ("uploaded", "transcoding"):
        return _upload_error("该课时的视频正在转码，请等待完成后再上传新文件。", 409)
    size_text = (request.form.get("size") or "").strip()
    filename = (request.form.get("filename") or "")[:255]
    if not size_text.isdigit() or int(size_text) <= 0:
        return _upload_error("文件为空（0 字节）或大小无效，请重新选择视频文件。")
    size = int(size_text)
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    staging = _staging()
    if lesson.upload_token:
        try:
            progress = chunks.status(staging, lesson.upload_token)
            if progress.total_size == size and _same_name(progress.filename, filename):
                return jsonify(_progress_json(progress))
        except chunks.UploadError:
            pass
        _discard_upload(lesson.upload_token)
    chunks.expire(staging, STAGED_MAX_AGE)
    try:
        token = chunks.start(staging, size, max_bytes, current_app.config["UPLOAD_CHUNK_BYTES"],
                             filename)
    except chunks.UploadError as exc:
        return _upload_error(exc.message, 413 if size > max_bytes else 400)
    Lesson.update(upload_token=token).where(Lesson.id == lesson.id).execute()
    return jsonify(_progress_json(chunks.status(staging, token)))


@bp.route("/lessons/<int:lesson_id>/upload/<token>")
@roles_required(*MANAGERS)
def upload_progress(lesson_id: int, token: str):
    """Where the upload stands: the client resumes from next_index."""
    _lesson_upload(lesson_id, token)
    try:
        return jsonify(_progress_json(chunks.status(_staging(), token)))
    except chunks.UploadError as exc:
        return _upload_error(exc.message, 410)


@bp.route("/lessons/<int:lesson_id>/upload/<token>/<int:index>", methods=["POST"])
@roles_required(*MANAGERS)
def upload_chunk(lesson_id: int, token: str, index: int):
    """Accept one chunk (raw body; header X-Chunk-SHA256), in order, and acknowledge it."""
    _lesson_upload(lesson_id, token)
    data = request.get_data(cache=False)
    try:
        progress = chunks.receive(_staging(), token, index, data,
                                  request.headers.get("X-Chunk-SHA256", ""))
    except chunks.UploadError as exc:
        return _upload_error(exc.message, 409)
    return jsonify(_progress_json(progress) | {"duplicate": progress.duplicate})


@bp.route("/lessons/<int:lesson_id>/upload/<token>/finish", methods=["POST"])
@roles_required(*MANAGERS)
def finish_upload(lesson_id: int, token: str):
    """Assemble the chunks, check the content is a video, keep it as the source and queue the
    transcode. A file that is not a usable video is removed with the reason."""
    lesson = _lesson_upload(lesson_id, token)
    staging = _staging()
    root = current_app.config["MEDIA_ROOT"]
    try:
        assembled = chunks.finish(staging, token)
        session = chunks.load(staging, token)
    except chunks.UploadError as exc:
        return _upload_error(exc.message, 409)
    binary = ffmpeg_binary(current_app.config.get("FFMPEG_BINARY"))
    try:
        info = probe(assembled, binary=binary)
    except (NotAVideo, TranscodeError) as exc:
        _discard_upload(token)
        Lesson.update(upload_token=None).where(Lesson.id == lesson.id).execute()
        return _upload_error(exc.message, 422)
    source_name = media_store.new_source_name(lesson.id)
    source = media_store.resolve(root, source_name)
    source.parent.mkdir(parents=True, exist_ok=True)
    assembled.replace(source)
    _discard_upload(token)
    # The current renditions (if any) stay until the new ones are ready: the transcode swaps
    # the rows in one transaction and then removes the old version folder.
    (Lesson.update(source_name=source_name, source_size=session.total_size,
                   source_filename=session.filename, upload_token=None,
                   duration_ms=info.duration_ms, attempts=0, updated_at=utcnow())
     .where(Lesson.id == lesson.id)
     .execute())
    media_store.remove_sources(root, lesson.id, keep=source_name)
    media_store.remove_versions(root, lesson.id, keep=lesson.media_version)
    transcode.enqueue_transcode(lesson)
    return jsonify({"ok": True, "status_url": url_for("courses.lesson_status", lesson_id=lesson.id)})


@bp.route("/lessons/<int:lesson_id>/upload/<token>/cancel", methods=["POST"])
@roles_required(*MANAGERS)
def cancel_upload(lesson_id: int, token: str):
    """Give up an upload in progress and remove what arrived."""
    lesson = _lesson_upload(lesson_id, token)
    _discard_upload(token)
    Lesson.update(upload_token=None).where(Lesson.id == lesson.id).execute()
    return jsonify({"ok": True})
