"""Publishing and durable delivery: build our activities, pick recipients, fan out to
inboxes, the `deliveries` table and its worker, retry policy, timelines.

Must not import `inbox` or `server`. Other packages use the modules listed in
`__all__`; `addressing`, `claims`, `jobs` and `recording` are the insides of
publishing and of the delivery worker.
"""

__all__ = [
    "aliases",
    "boosts",
    "contacts",
    "content",
    "context",
    "delivery",
    "documents",
    "follows",
    "groups",
    "links",
    "models",
    "polls",
    "posts",
    "profiles",
    "publish",
    "queries",
    "queue",
    "relays",
    "reports",
    "retry",
    "signer",
    "statuses",
    "timelines",
]
