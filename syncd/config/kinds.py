"""The kinds of document syncd's own flows carry, and the units config numbers use."""

from __future__ import annotations

DAY = 86400.0

# What each syncd-driven flow uploads: (database classification, pvt_type).
FLOW_KINDS = {
    "voicemail": ("modb", "mailbox_message"),
    "recordings": ("modb", "call_recording"),
    "faxes": ("modb", "fax"),
    "media": ("account", "media"),
}
