"""The vocabulary more than one layer speaks: plain data and pure functions, at the bottom
beside errors.py, importing nothing of syncd but errors (and no SDK).

    fax   a fax outbox job as the state database records it
    cdr   how a queued CDR is packed into the state database
"""
