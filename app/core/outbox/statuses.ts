// The life of an outbox row and why a row is not sent (decisions 5): one list each, for the database, the admin
// and the ops CLI.

export const OUTBOX_STATUSES = [
  "held",
  "pending",
  "sending",
  "sent",
  "failed",
  "expired",
  "suppressed",
] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

export const SUPPRESS_REASONS = [
  "not_connected",
  "no_marketing_consent",
  "no_consent_opt_in_region",
  "no_consent_strict",
  "test_order",
  "order_cancelled",
  "source_disabled",
  "shop_uninstalled",
  "refunded",
  // Routing (decisions 130): no destination's rule takes the event; its destination was removed before it went.
  "no_destination",
  "destination_removed",
] as const;
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];
