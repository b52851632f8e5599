"""The CDR flow: Kazoo's call detail records into the provider's database (and, to come,
files and spreadsheets), seconds after each call, exactly once (DESIGN §2, issue 14).

records: the vocabulary config shares; reader: CDR docs from the followed
MODBs into the state DB's queue; rows: the columns a sink asked for; sql: the
SQL sink (SQLAlchemy Core); export: a window re-exported on demand; flow: its
loops, probes and status for the daemon.
"""
