import { MATCH_KEYS, type MatchKey, type UserData } from "../wire";

/*
 * Estimated match quality (0–10), shown per event name in the admin.
 *
 * Meta scores how well the customer information on your events lets it find the matching Meta account
 * ("Event Match Quality" in Events Manager). This app cannot read Meta's score, so it estimates one from the
 * share of recent events that carry each piece of customer information. Each piece adds points in proportion to
 * the share of events that carry it:
 *
 *   Email                                    3.0   (the strongest identifier)
 *   Phone                                    2.0
 *   Customer id (external_id)                1.2   (links the purchase to the same shopper's browser events)
 *   Browser id (fbp)                         1.0
 *   Ad click id (fbc)                        0.9
 *   IP address and browser user agent        0.8   (counted only as a pair: the smaller of the two shares)
 *   Address (city, state, zip, country)      0.7   (the average share of the four)
 *   Name (first, last)                       0.4   (the average share of the two; weak on its own)
 *
 * Every piece on every event gives 10. The score has one decimal; the rating reads it as
 * poor (below 4), ok (4 to 5.9), good (6 to 7.9), great (8 and above).
 * This is an estimate to find gaps (for example orders without email because the app lacks access to customer
 * data), not Meta's own number, which also weighs how well each value matches.
 */

export { MATCH_KEYS };
export type { MatchKey };

export type MatchRating = "poor" | "ok" | "good" | "great";

/** Missing keys count as never present. */
export type MatchKeyShares = Partial<Record<MatchKey, number>>;

const WEIGHTS = {
  email: 3.0,
  phone: 2.0,
  externalId: 1.2,
  fbp: 1.0,
  fbc: 0.9,
  ipAndUserAgent: 0.8,
  address: 0.7,
  name: 0.4,
};

export function estimateMatchQuality(shares: MatchKeyShares): {
  score: number;
  rating: MatchRating;
} {
  const share = (key: MatchKey) => {
    const value = shares[key];
    return typeof value === "number" && Number.isFinite(value)
      ? Math.min(1, Math.max(0, value))
      : 0;
  };
  const average = (keys: MatchKey[]) =>
    keys.reduce((sum, key) => sum + share(key), 0) / keys.length;

  const points =
    WEIGHTS.email * share("em") +
    WEIGHTS.phone * share("ph") +
    WEIGHTS.externalId * share("external_id") +
    WEIGHTS.fbp * share("fbp") +
    WEIGHTS.fbc * share("fbc") +
    WEIGHTS.ipAndUserAgent *
      Math.min(share("client_ip_address"), share("client_user_agent")) +
    WEIGHTS.address * average(["ct", "st", "zp", "country"]) +
    WEIGHTS.name * average(["fn", "ln"]);

  // One decimal without binary noise (4.35 stays 4.4); the rating reads the shown number.
  const score = Math.round(Number((points * 10).toPrecision(12))) / 10;
  return { score, rating: ratingOf(score) };
}

function ratingOf(score: number): MatchRating {
  if (score >= 8) return "great";
  if (score >= 6) return "good";
  if (score >= 4) return "ok";
  return "poor";
}

/** The match keys an event carries (non-empty values only), in MATCH_KEYS order. */
export function matchKeysOf(
  userData: Omit<UserData, "client_ip_address" | "client_user_agent"> & {
    client_ip_address?: string | null;
    client_user_agent?: string | null;
  },
): MatchKey[] {
  return MATCH_KEYS.filter((key) => {
    const value = userData[key];
    return Array.isArray(value)
      ? value.some((v) => v !== "")
      : typeof value === "string" && value.trim() !== "";
  });
}
