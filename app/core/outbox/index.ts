// The outbox: the one owner of the pipeline's tables (events, receipts, browser context, browsers seen, an order's state and refunds): every write
// is a method of its class Outbox. Other folders import this face only.

export { jitter } from "./backoff";
export {
  EVENT_SUMMARY_SELECT,
  FINAL_STATUSES,
  Outbox,
  STALE_MESSAGE,
  activeTestEventCode,
  asJson,
  isConnected,
  isInsideWindow,
  valueColumns,
} from "./outbox";
export type {
  ClaimedBatch,
  CustomerKeys,
  CustomerScope,
  Deletes,
  DueHeld,
  ErrorFields,
  OrderStateRow,
  Purchase,
  RefundRow,
  ReleaseUpdate,
  ReplayResult,
  RouteClaims,
  RoutedRow,
  RowRelease,
  Undecided,
} from "./outbox";
export { pgStore, sqliteStore } from "./sql";
export type {
  ClaimedRow,
  ContextFields,
  IntakeContext,
  IntakeShop,
  NewOutboxEvent,
  SqlStore,
  WriteStatement,
} from "./sql";
export { addMissingKey, parseMissingKeys } from "./missingKeys";
export type { MissingReason } from "./missingKeys";
export { OUTBOX_STATUSES } from "./statuses";
export type { OutboxStatus, SuppressReason } from "./statuses";
export { storableText } from "./storableText";
