"""Face analysis for real-name study: dlib detection, landmarks and descriptor, image bounds and
quality hints. Plain Python, no Flask or peewee."""
