"""The fax outbox flow: files dropped into an outbox become Kazoo fax jobs, and
each file is filed beside the outbox with its result; received faxes are
converted from TIFF to PDF on their way out of Kazoo.

flow: the loop over the outboxes, their probes and status; its vocabulary,
which config and the state DB share, is syncd/model/fax.py; kazoo: fax jobs
written into Kazoo (CouchDB or Crossbar); files: is this a PDF we can fax,
and for whom; outbox: one pass over an outbox; filing: where a file goes when
its job ends; convert: TIFF -> PDF for received faxes."""
