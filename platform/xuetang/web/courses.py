"""The uploader's area: courses, their ordered lessons, resumable video upload, transcoding status.

Uploaders (CE bases, title-committee offices) manage their own organization's courses; the city
admin manages all. Who may manage what is decided here, from the signed-in account; the writes
and their refusals are services/courses.py. Video arrives in chunks (video/chunks.py)
acknowledged one by one, so a dropped connection resumes where it stopped; the assembled file is
checked by content (ffmpeg probe) before it becomes the lesson's source, then a background job
transcodes it (xuetang.jobs.transcode).
"""

from decimal import Decimal

from flask import Blueprint, abort, flash, jsonify, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN, fn
from wtforms import DecimalField, RadioField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.fields import TextAreaField
from wtforms.i18n import get_translations
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from xuetang.extensions import limiter
from xuetang.models import Course, CourseSeries, Lesson, Organization, Series, Specialty
from xuetang.rules.annual import CATEGORY_LABELS
from xuetang.services import courses
from xuetang.services.courses import CourseError, CourseFields
from xuetang.web import redirect_to, render
from xuetang.web.access import account_key, config_limit, roles_required

bp = Blueprint("courses", __name__, url_prefix="/courses")

MANAGERS = ("uploader", "city_admin")
UPLOADER_ORG_KINDS = ("ce_base", "title_office")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        known = {getattr(choice, "value", None) or choice[0] for choice in self.choices or []}
        if any(value not in known for value in self.data or []):
            raise ValidationError("所选职称系列不存在，请刷新页面后重新选择")


def finite_number(form, field):
    """NaN, infinities and 1e400 stop here: NumberRange and quantize would raise on them."""
    value = field.data
    if value is not None and (not value.is_finite() or abs(value.adjusted()) > 6):
        raise StopValidation("课程学时应在 0.5 到 100 之间")


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
        InputRequired("请填写课程学时"), finite_number,
        NumberRange(Decimal("0.5"), Decimal(100), message="课程学时应在 0.5 到 100 之间")])
    organization = SelectField("所属机构", coerce=int)
    specialty = SelectField("专业方向（可选，专业科目）", coerce=int, default=0)
    def validate_specialty(self, field):
        # specialty_series (specialty id -> its series) is set with the choices in _course_form.
        series_of = getattr(self, "specialty_series", {})
        if field.data and self.category.data == "professional" \
                and series_of.get(field.data) not in set(self.series.data or ()):
            raise ValidationError("所选专业方向不属于所选的职称系列")

    def validate_series(self, field):
        if self.category.data == "professional" and not field.data:
            raise ValidationError("专业科目至少选择一个职称系列")

    def validate_declared_hours(self, field):
        if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError("课程学时最多保留两位小数")

    def course_fields(self) -> CourseFields:
        """The validated input as the values a course is written with."""
        return CourseFields(
            title=self.title.data.strip(),
            description=(self.description.data or "").strip(),
            category=self.category.data,
            declared_hours=self.declared_hours.data,
            organization_id=self.organization.data,
            series_ids=tuple(self.series.data or ()),
            specialty_id=self.specialty.data or None,
        )


# ---------------------------------------------------------------------------------------------
# who may manage what


def manageable_org_ids() -> set[int] | None:
    """Organizations whose courses the signed-in account manages; None = all (city admin)."""
    if current_user.has_role("city_admin"):
        return None
    return current_user.org_ids("uploader")


def manageable_course(course_id: int) -> Course:
    """The course, if the signed-in account manages it (else 404 or 403)."""
    course = Course.get_or_none(Course.id == course_id)
    if course is None:
        abort(404)
    allowed = manageable_org_ids()
    if allowed is not None and course.organization_id not in allowed:
        abort(403)
    return course


def manageable_lesson(lesson_id: int) -> Lesson:
    """The lesson, if the signed-in account manages its course (else 404 or 403)."""
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
    specialties = list(Specialty.select(Specialty, Series).join(Series).order_by(Series.sort,
                                                                                  Specialty.id))
    form.specialty.choices = [SelectChoice(0, "不限")] + [
        SelectChoice(sp.id, f"{sp.series.name} · {sp.name}") for sp in specialties]
    form.specialty_series = {sp.id: sp.series_id for sp in specialties}
    if not isinstance(form.specialty.data, int):  # not posted: obj gave the model (or None)
        form.specialty.data = (course.specialty_id if course is not None else None) or 0
    if course is not None and request.method == "GET":
        form.series.data = [link.series_id for link in course.series_links]
        form.organization.data = course.organization_id
    if len(orgs) == 1 and not form.organization.data:
        form.organization.data = orgs[0].id
    return form


def _series_names(course: Course) -> list[str]:
    return [link.series.name for link in
            CourseSeries.select(CourseSeries, Series).join(Series)
            .where(CourseSeries.course == course).order_by(Series.sort)]


def _course_page(course: Course, error: str | None = None, status: int = 200):
    """The course page, shown alike whether it is asked for or a change on it was refused."""
    return render("courses/course.html", course=course, lessons=courses.lessons_of(course),
                  series=_series_names(course), error=error, status=status)


def _lesson_status(lesson: Lesson, error: str | None = None, status: int = 200):
    return render("courses/_lesson_status.html", "courses/_lesson_status.html", lesson=lesson,
                  error=error, status=status)


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
    managed = list(query)
    orgs = {o.id: o.name for o in Organization.select().where(
        Organization.id.in_({c.organization_id for c in managed}))}
    return render("courses/index.html", courses=managed, orgs=orgs)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_course():
    """Create a course (a draft until published)."""
    form = _course_form()
    if not form.organization.choices:
        abort(403)
    if form.validate_on_submit():
        course = courses.create_course(form.course_fields(), current_user.account)
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
        courses.update_course(course, form.course_fields())
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
    try:
        courses.set_published(course, publish_it)
    except CourseError as exc:
        return _course_page(course, exc.message, exc.status)
    flash("课程已发布，学员可在专业课广场看到。" if publish_it else "课程已撤回为草稿。", "success")
    return redirect_to("courses.course", course_id=course.id)


# ---------------------------------------------------------------------------------------------
# lessons


@bp.route("/<int:course_id>/lessons", methods=["POST"])
@roles_required(*MANAGERS)
def add_lesson(course_id: int):
    """Append a lesson (its video is uploaded next)."""
    course = manageable_course(course_id)
    try:
        courses.add_lesson(course, (request.form.get("title") or "").strip())
    except CourseError as exc:
        return _course_page(course, exc.message, exc.status)
    return redirect_to("courses.course", course_id=course.id)


@bp.route("/lessons/<int:lesson_id>/move", methods=["POST"])
@roles_required(*MANAGERS)
def move_lesson(lesson_id: int):
    """Swap a lesson with its neighbour (direction=up|down)."""
    lesson = manageable_lesson(lesson_id)
    courses.move_lesson(lesson, up=request.form.get("direction") == "up")
    return redirect_to("courses.course", course_id=lesson.course_id)


@bp.route("/lessons/<int:lesson_id>/delete", methods=["POST"])
@roles_required(*MANAGERS)
def delete_lesson(lesson_id: int):
    """Remove a lesson of a draft course, with its files."""
    lesson = manageable_lesson(lesson_id)
    try:
        courses.delete_lesson(lesson)
    except CourseError as exc:
        return _course_page(lesson.course, exc.message, exc.status)
    flash("课时已删除。", "success")
    return redirect_to("courses.course", course_id=lesson.course_id)


@bp.route("/lessons/<int:lesson_id>/status")
@roles_required(*MANAGERS)
def lesson_status(lesson_id: int):
    """The lesson's status fragment; htmx polls it while the video is waiting or transcoding."""
    return _lesson_status(manageable_lesson(lesson_id))


@bp.route("/lessons/<int:lesson_id>/retry", methods=["POST"])
@roles_required(*MANAGERS)
def retry(lesson_id: int):
    """Queue a failed transcode again."""
    lesson = manageable_lesson(lesson_id)
    try:
        lesson = courses.retry_transcode(lesson)
    except CourseError as exc:
        return _lesson_status(lesson, exc.message, exc.status)
    return _lesson_status(lesson)


# ---------------------------------------------------------------------------------------------
# chunked upload (JSON answers for static/js/upload.js)


def _progress_json(progress) -> dict:
    return {"token": progress.token, "chunk_size": progress.chunk_size,
            "total_size": progress.total_size, "received": progress.received_bytes,
            "next_index": progress.next_index, "chunk_count": progress.chunk_count}


def _upload_error(exc: CourseError):
    return jsonify({"error": exc.message}), exc.status


def _lesson_upload(lesson_id: int, token: str) -> Lesson:
    """The lesson, if `token` is its upload in progress (an old or foreign token: 404)."""
    lesson = manageable_lesson(lesson_id)
    if not token or lesson.upload_token != token:
        abort(404)
    return lesson


@bp.route("/lessons/<int:lesson_id>/upload", methods=["POST"])
@roles_required(*MANAGERS)
@limiter.limit(config_limit("UPLOAD_START_RATE_LIMIT"), key_func=account_key)
def start_upload(lesson_id: int):
    """Open an upload (or resume the lesson's one in progress for the same file)."""
    lesson = manageable_lesson(lesson_id)
    size_text = (request.form.get("size") or "").strip()
    size = int(size_text) if size_text.isdigit() else 0  # 0 is refused as "no size"
    filename = (request.form.get("filename") or "")[:255]
    try:
        progress = courses.start_upload(lesson, size, filename)
    except CourseError as exc:
        return _upload_error(exc)
    return jsonify(_progress_json(progress))


@bp.route("/lessons/<int:lesson_id>/upload/<token>")
@roles_required(*MANAGERS)
def upload_progress(lesson_id: int, token: str):
    """Where the upload stands: the client resumes from next_index."""
    _lesson_upload(lesson_id, token)
    try:
        progress = courses.upload_progress(token)
    except CourseError as exc:
        return _upload_error(exc)
    return jsonify(_progress_json(progress))


@bp.route("/lessons/<int:lesson_id>/upload/<token>/<int:index>", methods=["POST"])
@roles_required(*MANAGERS)
@limiter.limit(config_limit("UPLOAD_CHUNK_RATE_LIMIT"), key_func=account_key)
def upload_chunk(lesson_id: int, token: str, index: int):
    """Accept one chunk (raw body; header X-Chunk-SHA256), in order, and acknowledge it."""
    _lesson_upload(lesson_id, token)
    data = request.get_data(cache=False)
    try:
        progress = courses.receive_chunk(token, index, data, request.headers.get("X-Chunk-SHA256", ""))
    except CourseError as exc:
        return _upload_error(exc)
    return jsonify(_progress_json(progress) | {"duplicate": progress.duplicate})


@bp.route("/lessons/<int:lesson_id>/upload/<token>/finish", methods=["POST"])
@roles_required(*MANAGERS)
def finish_upload(lesson_id: int, token: str):
    """Assemble the chunks, check the content is a video, keep it as the source and queue the
    transcode. A file that is not a usable video is removed with the reason."""
    lesson = _lesson_upload(lesson_id, token)
    try:
        courses.finish_upload(lesson, token)
    except CourseError as exc:
        return _upload_error(exc)
    return jsonify({"ok": True, "status_url": url_for("courses.lesson_status", lesson_id=lesson.id)})


@bp.route("/lessons/<int:lesson_id>/upload/<token>/cancel", methods=["POST"])
@roles_required(*MANAGERS)
def cancel_upload(lesson_id: int, token: str):
    """Give up an upload in progress and remove what arrived."""
    lesson = _lesson_upload(lesson_id, token)
    courses.cancel_upload(lesson, token)
    return jsonify({"ok": True})
