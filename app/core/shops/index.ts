// The one writer of the Shop table: a shop's Meta connection, settings, identity, pause and backoff; tokens at rest.
// Other folders import this face only.

export {
  TOKEN_KEY_PAUSE,
  connectShop,
  ensureShop,
  resumeReadableTokens,
  rotateTokens,
  updateSettings,
} from "./shopConfig";
export type {
  ConnectDeps,
  FieldErrors,
  ResealSessions,
  SessionRotation,
} from "./shopConfig";
export {
  ShopSql,
  deleteShop,
  markUninstalled,
  noteTestEventSent,
  pauseSending,
  recordIdentity,
  recordScope,
  recordWebPixel,
} from "./shops";
export {
  DESTINATION_ORDER,
  backOffTarget,
  claimPauseNotice,
  noteTargetDelivery,
  pauseTarget,
  removeDestination,
  resumeTarget,
  routes,
  saveDestination,
  saveOwnRule,
  sendTargets,
  targetsOf,
  describeTarget,
  testTarget,
} from "./destinations";
export type { SendTarget } from "./destinations";
export {
  TokenDecryptError,
  decryptToken,
  decryptTokenText,
  encryptTokenText,
  generateKey,
  isEncryptedText,
  loadKeyRing,
  maskToken,
  reencryptText,
} from "./tokenCrypto";
export type { KeyRing } from "./tokenCrypto";
export {
  advanceWatermark,
  claimReconcile,
  extendReconcileLease,
  finishReconcile,
  pendingBackfill,
  requestBackfill,
  saveBackfill,
} from "./reconcileState";
export type { Backfill } from "./reconcileState";
