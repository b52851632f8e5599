"""The CDR flow: Kazoo's call detail records into the provider's database, files and
spreadsheets, seconds after each call, exactly once.

Its vocabulary, which config and the state DB share, is syncd/model/cdr.py. reader: CDR
docs from the followed MODBs into the state DB's queue; rows: the columns a sink asked for; pump + sql: the SQL sinks
(SQLAlchemy Core); files: CSV and Parquet days in a backend; sheets: Google Sheets;
export: a window re-exported on demand; flow: its loops, probes and status for the daemon.
"""
