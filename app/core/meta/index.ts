// Meta's Graph API: the one client (it never throws, never lets the token out) and the table of what each error
// means for delivery and for the merchant.
// Other folders import this face only.

export {
  DEFAULT_GRAPH_VERSION,
  graphConfigFromEnv,
  lookupPixel,
  requestParts,
  sendEvents,
} from "./graphClient";
export type {
  GraphConfig,
  GraphFailure,
  SendEventsResult,
} from "./graphClient";
export { datasetQuality, debugToken, pixelEventCounts } from "./datasetReads";
export type {
  EventCount,
  EventQuality,
  Read,
  StatsSource,
  TokenInfo,
} from "./datasetReads";
export { classifyGraphError, UNKNOWN_ERROR_MAX_RETRIES } from "./graphErrors";
export type { GraphErrorInfo } from "./graphErrors";
