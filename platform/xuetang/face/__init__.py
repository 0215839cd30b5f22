"""Proctoring for real-name study: face enrolment and checks. Plain Python, no Flask or peewee."""
