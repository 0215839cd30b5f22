"""Demo certificates: 李秀梅 issued her 2021 certificate, then reissued it (the first code shows
as superseded); 张志强 has a current one. 王建华 has none yet: he is the demo of issuing one."""

from xuetang.models import Certificate, Person
from xuetang.services import certificates


def load(people: dict[str, Person]) -> None:
    """Idempotent: only people without a certificate get one."""
    for name, issues in (("李秀梅", 2), ("张志强", 1)):
        person = people[name]
        if Certificate.select().where((Certificate.person == person)
                                      & (Certificate.year == 2021)).exists():
            continue
        account = person.accounts.first()
        for _ in range(issues):
            certificates.issue(person, 2021, account.id if account else None)
