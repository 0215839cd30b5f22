"""Tables, split by area. ALL_MODELS is in creation (dependency) order."""

from xuetang.models.audit import AUDIT_MODELS, AuditEvent
from xuetang.models.certificates import CERTIFICATE_MODELS, Certificate
from xuetang.models.courses import Course, CourseSeries, Lesson, Rendition
from xuetang.models.exports import EXPORT_MODELS, Export
from xuetang.models.faces import (
    FaceCheck,
    FaceConsent,
    FaceReference,
    FaceReview,
    FaceThreshold,
    ReferenceChange,
)
from xuetang.models.filings import (
    FILING_MODELS,
    Filing,
    FilingCredit,
    FilingEvent,
    FilingPeriod,
    FilingRow,
)
from xuetang.models.ledger import LedgerLine, LedgerTotal
from xuetang.models.notices import NOTICE_MODELS, Notice, NoticeAttachment, OfficeSeries
from xuetang.models.people import (
    ADMIN_ROLE_FOR_KIND,
    ORG_KINDS,
    ROLES,
    Account,
    District,
    Organization,
    Person,
    RoleGrant,
    Series,
    Specialty,
)
from xuetang.models.policy import StudyYear
from xuetang.models.signin import (
    SIGNIN_MODELS,
    AccountSession,
    ActivationCode,
    SignInThrottle,
)
from xuetang.models.study import (
    STUDY_MODELS,
    ActivePlay,
    BeatRejection,
    LessonCoverage,
    PlaySession,
    StudyCredit,
    WatchStretch,
)

FOUNDATION_MODELS = [
    District, Organization, Series, Specialty, Person, Account, RoleGrant, StudyYear, LedgerLine,
]
COURSE_MODELS = [Course, CourseSeries, Lesson, Rendition]
FACE_MODELS = [FaceConsent, FaceReference, FaceCheck, FaceReview, ReferenceChange, FaceThreshold]
ALL_MODELS = (FOUNDATION_MODELS + COURSE_MODELS + FACE_MODELS + STUDY_MODELS + SIGNIN_MODELS
              + FILING_MODELS + CERTIFICATE_MODELS + NOTICE_MODELS + AUDIT_MODELS + EXPORT_MODELS)

__all__ = [
    "ADMIN_ROLE_FOR_KIND", "ALL_MODELS", "COURSE_MODELS", "Course", "CourseSeries", "Lesson",
    "Rendition", "FOUNDATION_MODELS", "ORG_KINDS", "ROLES", "Account",
    "District", "LedgerLine", "LedgerTotal", "Organization", "Person", "RoleGrant", "Series", "Specialty",
    "StudyYear",
    "FACE_MODELS", "FaceCheck", "FaceConsent", "FaceReference", "FaceReview", "FaceThreshold",
    "ReferenceChange",
    "STUDY_MODELS", "ActivePlay", "BeatRejection", "LessonCoverage", "PlaySession", "StudyCredit",
    "WatchStretch", "SIGNIN_MODELS", "AccountSession", "ActivationCode",
    "SignInThrottle",
    "FILING_MODELS", "Filing", "FilingCredit", "FilingEvent", "FilingPeriod", "FilingRow",
    "CERTIFICATE_MODELS", "Certificate", "NOTICE_MODELS", "Notice", "NoticeAttachment",
    "OfficeSeries", "AUDIT_MODELS", "AuditEvent", "EXPORT_MODELS", "Export",
]
