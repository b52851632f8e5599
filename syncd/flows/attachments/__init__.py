"""The attachments flow: Kazoo's voicemails, recordings and faxes in the
backends, and deletes carried both ways (DESIGN §2.1-2.2). Routing lives in
syncd.kazoo (plans, work), upload and two-way machinery in syncd.engine; this
package holds what is the flow's own: full reconciliation (reconcile)."""
