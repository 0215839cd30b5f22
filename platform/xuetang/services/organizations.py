"""Organizations and their admin accounts, as the city admin (or the installer) creates them."""

from dataclasses import dataclass

from peewee import JOIN, IntegrityError

from xuetang.db import database
from xuetang.models import ORG_KINDS, Account, District, Organization, RoleGrant
from xuetang.rules.text import clean_text
from xuetang.services import accounts
from xuetang.services.refusals import Refused

CITY_OFFICE_NAME = "市人力资源和社会保障局"  # the city office a fresh installation starts with


@dataclass
class NewOrganization:
    """What the city admin sees once: the one-time password is not stored anywhere readable."""

    org: Organization
    account: Account
    password: str


def organizations_page() -> dict:
    """Every organization with its district and the names of its admin accounts."""
    orgs = list(Organization.select(Organization, District)
                .join(District, on=(Organization.district == District.id), join_type=JOIN.LEFT_OUTER)
                .order_by(Organization.kind, Organization.name))
    admins: dict[int, list[str]] = {}
    seen: set[tuple[int, int]] = set()  # an admin holding two roles of one organization is one admin
    for grant in (RoleGrant.select(RoleGrant, Account)
                  .join(Account)
                  .where(RoleGrant.organization.is_null(False))
                  .order_by(RoleGrant.id)):
        if (grant.organization_id, grant.account_id) not in seen:
            seen.add((grant.organization_id, grant.account_id))
            admins.setdefault(grant.organization_id, []).append(grant.account.display_name)
    return {"orgs": orgs, "admins": admins}


def districts() -> list[District]:
    """The districts an organization can belong to, in their official order."""
    return list(District.select().order_by(District.sort))


def create_organization(name: str, kind: str, district_id: int | None,
                        admin_username: str) -> NewOrganization:
    """The organization and its admin account, both or neither; the admin must change the password."""
    district = District.get_or_none(District.id == district_id)
    if kind == "district_hr" and district is None:
        raise Refused(f"{ORG_KINDS['district_hr']}必须选择所属区县")
    password = accounts.one_time_password()
    try:
        with database.atomic():
            org = Organization.create(name=clean_text(name), kind=kind, district=district)
            account = accounts.create_admin_account(admin_username, password,
                                                    must_change_password=True)
            accounts.grant_org_admin(account, org)
    except IntegrityError:
        raise Refused("机构名称或管理员用户名已存在") from None
    return NewOrganization(org, account, password)


def create_city_admin(username: str, password: str) -> Account:
    """A city admin for a fresh installation, creating the city office if there is none yet."""
    with database.atomic():
        city = (Organization.get_or_none(Organization.kind == "city_hr")
                or Organization.create(name=CITY_OFFICE_NAME, kind="city_hr"))
        account = accounts.create_admin_account(username, password, must_change_password=False)
        accounts.grant_org_admin(account, city)
    return account
