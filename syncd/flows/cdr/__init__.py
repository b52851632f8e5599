"""The CDR flow: Kazoo's call detail records into the provider's database, files and
spreadsheets, seconds after each call, exactly once.

records: the vocabulary config shares; reader: CDR docs from the followed MODBs into the
state DB's queue; rows: the columns a sink asked for; pump + sql: the SQL sinks
(SQLAlchemy Core); files: CSV and Parquet days in a backend; sheets: Google Sheets;
export: a window re-exported on demand; flow: its loops, probes and status for the daemon.
"""
