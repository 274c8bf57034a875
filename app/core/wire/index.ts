// What the web pixel and the server both bundle: formats on the wire, zod-free and importing nothing server-side.
// Other folders import this face only.

export { CONTENT_ID_FORMATS, contentId, contentType } from "./contentIds";
export type { ContentIdFormat } from "./contentIds";
export {
  FBC_PATTERN,
  FBP_PATTERN,
  clickIdOfFbc,
  fbcOfClickId,
  isClickId,
} from "./cookies";
export {
  nfc,
  normalizeEmail,
  normalizeExternalId,
  normalizeName,
} from "./email";
export { numericId, purchaseEventId } from "./eventId";
export {
  BROWSER_EVENT_NAMES,
  INGEST_WIRE_VERSION,
  MAX_INGEST_BODY_BYTES,
} from "./ingestBody";
export type {
  BrowserEventInput,
  BrowserEventName,
  ConsentSnapshot,
  IngestBodyInput,
} from "./ingestBody";
export { MATCH_KEYS, SHOPPER_KEYS } from "./metaEvent";
export type {
  ActionSource,
  CapiEvent,
  Content,
  CustomData,
  MatchKey,
  ShopperKeys,
  UserData,
} from "./metaEvent";
export { safePageUrl, safePathAndQuery } from "./pageUrl";
export {
  ALL_ORDERS,
  ROUTE_CHANNELS,
  ROUTE_KINDS,
  matchesRule,
  route,
} from "./routing";
export type { RouteChannel, RouteFacts, RoutingRule } from "./routing";
