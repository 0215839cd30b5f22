"""Spreadsheet imports: rosters of staff (employers) and of filed hours (departments, CE bases)."""
