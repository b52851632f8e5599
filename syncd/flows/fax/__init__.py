"""The fax outbox flow: files dropped into an outbox become Kazoo fax jobs, and
each file is filed beside the outbox with its result (DESIGN §2.3); received
faxes are converted from TIFF to PDF on their way out of Kazoo.

flow: the loop over the outboxes, their probes and status; records: the
vocabulary other layers share; files: is this a PDF we can fax,
and for whom; outbox: one pass over an outbox; filing: where a file goes when
its job ends; convert: TIFF -> PDF for received faxes."""
