"""Issue 15, item 2: kill -9 in the middle of a face decision leaves it all or nothing.

A child process decides a snapshot on the test database and SIGKILLs itself inside the
transaction that records the decision. Afterwards the check is undecided and unclaimed, so the
player's snapshot, sent again, is decided (a half-decided check, claimed but with no decision,
would refuse every new snapshot as "already submitted" and never time out). The image stored
before the kill, which no row names, is removed by the daily purge."""

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.faces import enrol, live, wang
from tests.support.paths import ROOT
from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import FaceCheck
from xuetang.services import face_checks, faces

DECIDER = textwrap.dedent('''
    import os, signal, sys
    from pathlib import Path
    from xuetang import create_app
    from xuetang.db import database
    from xuetang.models import FaceCheck, Person
    from xuetang.services import face_checks

    save = FaceCheck.save

    def save_then_die(self, *args, **kwargs):
        saved = save(self, *args, **kwargs)
        if self.decision is not None:
            os.kill(os.getpid(), signal.SIGKILL)  # inside the decision's transaction
        return saved

    if __name__ == "__main__":  # the face-analysis processes (face/pool.py) import this file
        nonce, person_id = sys.argv[1], int(sys.argv[2])
        image = Path(sys.argv[3]).read_bytes()
        FaceCheck.save = save_then_die
        app = create_app({"SECRET_KEY": "durability", "DATABASE_URL": os.environ["DATABASE_URL"],
                          "MEDIA_ROOT": os.environ["MEDIA_ROOT"], "RATELIMIT_ENABLED": False,
                          "DEMO_MEDIA": False})
        with app.test_request_context(), database.connection_context():
            face_checks.decide(nonce, Person.get_by_id(person_id), image)
        print("decided", flush=True)
''')


def test_kill_9_inside_a_face_decision_leaves_the_check_open(app, db, tmp_path):
    with app.test_request_context():
        person = wang()
        enrol(person, "a_enroll")
        check = face_checks.issue_check(person, None, "s1")
    snapshot = tmp_path / "snapshot.jpg"
    snapshot.write_bytes(live("a"))
    database.close()
    script = tmp_path / "decide.py"
    script.write_text(DECIDER)
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"],
           "MEDIA_ROOT": app.config["MEDIA_ROOT"],
           "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)])}
    killed = subprocess.run([sys.executable, str(script), check.nonce, str(person.id),
                             str(snapshot)], env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr

    database.connect(reuse_if_open=True)
    row = FaceCheck.get_by_id(check.id)
    assert row.decision is None and row.used_at is None and row.snapshot_name is None
    orphans = snapshots(app)  # stored before the kill; no row names it
    assert len(orphans) == 1
    with app.test_request_context():
        decision = face_checks.decide(check.nonce, person, live("a", turn=1))
    assert decision.check.decision == "pass"
    assert FaceCheck.get_by_id(check.id).decision == "pass"

    # The daily purge removes the orphan (past a grace hour) and keeps the decided snapshot.
    with app.test_request_context():
        assert faces.purge_snapshots(now=utcnow() + dt.timedelta(hours=2)) == 1
    assert snapshots(app) == [faces_path(app, decision.check.snapshot_name)]


def snapshots(app) -> list[Path]:
    return sorted((Path(app.config["MEDIA_ROOT"]) / faces.FACES_DIR).rglob("chk-*"))


def faces_path(app, name: str) -> Path:
    return Path(app.config["MEDIA_ROOT"]) / name
