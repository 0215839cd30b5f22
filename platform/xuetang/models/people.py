"""Who is who: districts, organizations, title series, persons, accounts and their roles."""

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.rules.idcard import mask

# Organization kinds and the role an organization's admin account gets.
ORG_KINDS = {
    "employer": "用人单位",
    "industry_dept": "行业主管部门",
    "ce_base": "继续教育基地",
    "title_office": "职称评委会办事机构",
    "district_hr": "区县人社部门",
    "city_hr": "市人社局",
}
ADMIN_ROLE_FOR_KIND = {
    "employer": "employer_admin",
    "industry_dept": "industry_dept",
    "ce_base": "ce_base",
    "title_office": "uploader",
    "district_hr": "district_admin",
    "city_hr": "city_admin",
}
ROLES = {
    "trainee": "专业技术人员",
    "uploader": "课程上传",
    "employer_admin": "用人单位管理员",
    "industry_dept": "行业主管部门",
    "ce_base": "继续教育基地",
    "district_admin": "区县人社管理员",
    "city_admin": "市人社管理员",
}


class District(BaseModel):
    name = CharField(unique=True)
    kind = CharField(default="district")  # district | county | functional
    sort = IntegerField(default=0)

    class Meta:
        table_name = "district"


class Organization(BaseModel):
    name = CharField()
    kind = CharField(index=True)
    district = ForeignKeyField(District, null=True, backref="organizations", on_delete="RESTRICT")
    credit_code = CharField(null=True)  # 统一社会信用代码, optional
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "organization"
        indexes = ((("kind", "name"), True),)

    @property
    def kind_label(self) -> str:
        return ORG_KINDS.get(self.kind, self.kind)


class Series(BaseModel):
    """A professional-title series (职称系列)."""

    name = CharField(unique=True)
    filing_mode = BooleanField(default=False)  # professional hours arrive as industry filings
    exempt = BooleanField(default=False)  # separate credit scheme (中小学教师)
    sort = IntegerField(default=0)

    class Meta:
        table_name = "series"


class Specialty(BaseModel):
    """A specialty within a series, with its published study guide (学习指南)."""

    series = ForeignKeyField(Series, backref="specialties", on_delete="CASCADE")
    name = CharField()
    guide = TextField(default="")

    class Meta:
        table_name = "specialty"
        indexes = ((("series", "name"), True),)


class Person(BaseModel):
    real_name = CharField()
    id_number = CharField(max_length=18, unique=True)
    phone = CharField(default="")
    series = ForeignKeyField(Series, null=True, backref="people", on_delete="RESTRICT")
    specialty = ForeignKeyField(Specialty, null=True, on_delete="SET NULL")
    employer = ForeignKeyField(
        Organization, null=True, backref="staff", on_delete="RESTRICT", index=True
    )
    district = ForeignKeyField(District, null=True, backref="people", on_delete="RESTRICT")
    exempt = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "person"

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)

    @property
    def is_exempt(self) -> bool:
        return bool(self.exempt or (self.series_id and self.series.exempt))


class Account(BaseModel):
    username = CharField(unique=True, null=True)
    person = ForeignKeyField(Person, null=True, unique=True, backref="accounts", on_delete="CASCADE")
    # None until the first password is set: imported staff sign in once with an activation code.
    password_hash = CharField(null=True)
    must_change_password = BooleanField(default=True)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)

    class Meta:
        table_name = "account"

    @property
    def display_name(self) -> str:
        if self.person_id:
            return self.person.real_name
        return self.username or f"#{self.id}"


class RoleGrant(BaseModel):
    """One role of an account, scoped to an organization or a district where the role needs it."""

    account = ForeignKeyField(Account, backref="grants", on_delete="CASCADE")
    role = CharField()
    organization = ForeignKeyField(Organization, null=True, on_delete="CASCADE")
    district = ForeignKeyField(District, null=True, on_delete="CASCADE")

    class Meta:
        table_name = "role_grant"
        indexes = ((("account", "role", "organization", "district"), True),)
