// Order webhooks and storefront events become outbox rows: mapping, normalisation, consent and the release rule.
// Other folders import this face only.

export { parseIngestBody } from "./browserEvent";
export { intakeBrowserEvent, intakeConsent } from "./browserIntake";
export { largestOrders } from "./cartValue";
export type { LargestOrders } from "./cartValue";
export { clientIp } from "./clientIp";
export { normalizeAndHash } from "./normalize";
export { cancelOrder, intakeOrder, recordReceipt } from "./orderIntake";
export type {
  IntakeResult,
  PurchaseTopic,
  WebhookOutcome,
} from "./orderIntake";
export { mapOrder, parseOrder } from "./orderMapping";
export { intakeRefund, parseRefund, updateOrder } from "./orderLife";
export { otherShopReason, storefrontHost } from "./shopIdentity";
export {
  redecidePending,
  releaseDueHeld,
  releaseNotConnected,
} from "./waiting";
