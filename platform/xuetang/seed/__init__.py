"""Reference data every installation needs (districts, title series, study-year policy) and the
demo data that `make run` loads into an empty database."""
