"""The flows of DESIGN §2, one package each: what syncd keeps in sync, end to end.

A flow builds on the shared machinery below it (kazoo, backends, engine, state,
runtime) and never imports another flow. Other layers may import only a flow's
records module (its vocabulary). Each flow's flow.py gives the daemon its
loops, scheduled jobs, `syncd check` probes and `syncd status` section
through one contract (syncd.runtime.flow.Flow); the daemon builds the flows
and knows nothing else of them.
- attachments: voicemails, recordings and faxes offloaded per storage plan or
  flow, with two-way deletes and full reconciliation;
- fax: PDFs dropped into outboxes sent through Kazoo, results filed beside them.
"""
