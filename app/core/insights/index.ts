// What the admin shows: statistics, the event log, the match-quality estimate.
// Other folders import this face only.

export {
  BULK_REPLAY_LIMIT,
  STATUS_FILTERS,
  backlogByDataset,
  countReplayable,
  errorOf,
  eventNamesOf,
  findEvent,
  isReplayable,
  listEvents,
  parseEventFilter,
  payloadAsSent,
  replayEvents,
  replayProgress,
  valueMismatch,
} from "./eventLog";
export type { ReplayOutcome, ReplayProgress, ValueMismatch } from "./eventLog";
export { MATCH_KEYS, estimateMatchQuality, matchKeysOf } from "./matchQuality";
export { purchaseDrift, staffOrdersKeptBack, valueReport } from "./orderLife";
export type { CurrencyValues, Drift, KeptBack } from "./orderLife";
export type { MatchKey, MatchRating } from "./matchQuality";
export {
  COVERAGE_SAMPLE,
  RECONCILIATION_ALERT,
  STATS_WINDOWS,
  STATUS_GROUPS,
  countsByEventName,
  dedupCoverage,
  eventsOverTime,
  groupCounts,
  keyCoverage,
  parseStatsWindow,
  reconciliation,
  totalCounts,
  windowSince,
} from "./stats";
export type { StatsWindow, StatusGroup, TimeBucket } from "./stats";
