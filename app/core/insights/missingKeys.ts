import { parseMissingKeys, type MissingReason } from "../outbox";
import type { MatchKey } from "../wire";

// Why the sent events that lack a match key lack it (decisions 150), counted for the admin beside the key's share.

/** A sent event's row, as far as its missing keys go. */
export interface MissingKeysRow {
  /** `OutboxEvent.missingKeys`: null on events recorded before the app kept reasons. */
  missingKeys: string | null;
  /** The browser's consent snapshot, set when the storefront pixel reported the event or its checkout. */
  consent: unknown;
  checkoutToken: string | null;
}

/** Missing events per key and reason. */
export type MissingCounts = Partial<
  Record<MatchKey, Partial<Record<MissingReason, number>>>
>;

const BROWSER_KEYS: ReadonlySet<MatchKey> = new Set([
  "fbp",
  "fbc",
  "client_ip_address",
  "client_user_agent",
]);

/**
 * Adds one sent event's missing keys (`missing`: those its payload lacked) to `counts`. An order's browser key is
 * recorded `absent` at intake, before its checkout's browser context may join; when none joined a checkout the
 * pixel could have reported (no consent snapshot on the row: the pixel loads only after marketing consent,
 * decisions 1), it is counted as `no_consent` (decisions 152).
 */
export function countMissing(
  counts: MissingCounts,
  row: MissingKeysRow,
  missing: readonly MatchKey[],
): void {
  if (missing.length === 0) return;
  const stored =
    row.missingKeys === null ? null : parseMissingKeys(row.missingKeys);
  for (const key of missing) {
    let reason: MissingReason = stored?.[key] ?? "unknown";
    if (
      reason === "absent" &&
      BROWSER_KEYS.has(key) &&
      row.consent == null &&
      row.checkoutToken !== null
    )
      reason = "no_consent";
    const byReason = (counts[key] ??= {});
    byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
}
