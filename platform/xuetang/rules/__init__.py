"""Domain rules as plain Python: no Flask, no peewee. Views and models call into these."""
