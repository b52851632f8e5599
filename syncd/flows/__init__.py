"""The flows, one package each: what syncd keeps in sync, end to end.

A flow builds on the shared machinery below it (kazoo, backends, engine, state,
runtime, model) and never imports another flow, nor does anything below it
import a flow: a flow's vocabulary other layers need is in syncd/model/. Each flow's flow.py gives the daemon its
loops, scheduled jobs, `syncd check` probes and `syncd status` section
through one contract (contract.py: Flow, Shared, Loop, Job, Probe, Section);
the daemon builds the flows and knows nothing else of them.
- attachments: voicemails, recordings and faxes offloaded per storage plan or
  flow, with two-way deletes and full reconciliation;
- fax: PDFs dropped into outboxes sent through Kazoo, results filed beside them;
- cdr: CDRs into SQL tables, CSV or Parquet files, or Google Sheets;
- media: media libraries and music on hold, both ways.
"""
