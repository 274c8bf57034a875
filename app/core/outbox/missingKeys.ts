import type { MatchKey } from "../wire";

// Why a match key is missing from an event (decisions 150): one list and one text form, for intake (which finds
// the reason where it builds user_data), the column `OutboxEvent.missingKeys` (which keeps it) and the admin (which
// counts it). Only key names and these codes are stored, never a value.

export const MISSING_REASONS = [
  /** The order or storefront event did not carry it (a guest without a phone, no address, no ad click). */
  "absent",
  /** Shopify removed it: the app has no Level 2 protected customer data access to the buyer's contact. */
  "redacted",
  /** It was there, but not a value Meta can match: dropped at normalisation. */
  "invalid",
  /** No shopper's browser is behind the event: point of sale, draft, staff-created order, subscription renewal. */
  "no_browser",
  /** Counted by the admin, never stored: the storefront pixel never reported the checkout (no consent, or blocked). */
  "no_consent",
  /** Counted by the admin, never stored: the event was recorded before the app kept reasons. */
  "unknown",
] as const;
export type MissingReason = (typeof MISSING_REASONS)[number];

/** Adds one missing key to the column's text: `key=reason` pairs, comma-separated ("" when none is missing). */
export function addMissingKey(
  text: string,
  key: MatchKey,
  reason: MissingReason,
): string {
  return text ? `${text},${key}=${reason}` : `${key}=${reason}`;
}

/** The column's text read back: the reason of each key it names (a text it does not know reads as no reasons). */
export function parseMissingKeys(
  text: string | null,
): Partial<Record<MatchKey, MissingReason>> {
  const out: Partial<Record<MatchKey, MissingReason>> = {};
  if (!text) return out;
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    const reason = pair.slice(at + 1) as MissingReason;
    if (at > 0 && MISSING_REASONS.includes(reason))
      out[pair.slice(0, at) as MatchKey] = reason;
  }
  return out;
}
