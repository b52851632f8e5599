"""The attachments flow: Kazoo's voicemails, recordings and faxes in the
backends, and deletes carried both ways (docs/architecture.md §2.1-2.2). Routing lives in
syncd.kazoo (plans, routing), upload and two-way machinery in syncd.engine; this
package holds what is the flow's own: its loops and jobs (flow), where bytes
come from and go to (targets), full reconciliation (reconcile), deletion hints
from events (hints) and its `syncd check` probes (checks)."""
