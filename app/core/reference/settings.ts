import { z } from "zod";
import { CONTENT_ID_FORMATS } from "../wire";
import { DEFAULT_LDU_STATES } from "./ldu";

// Per-shop settings. Stored as JSON on the shop row and always read through `parseSettings`, so a row written
// by an older version gets the defaults for options it did not know.

export const CONSENT_POLICIES = ["shopify_rules", "strict", "always"] as const;
export type ConsentPolicy = (typeof CONSENT_POLICIES)[number];

/** EEA + UK + Switzerland: regions where tracking needs an opt-in. */
export const DEFAULT_OPT_IN_REGIONS = [
  "AT",
  "BE",
  "BG",
  "HR",
  "CY",
  "CZ",
  "DK",
  "EE",
  "FI",
  "FR",
  "DE",
  "GR",
  "HU",
  "IE",
  "IT",
  "LV",
  "LT",
  "LU",
  "MT",
  "NL",
  "PL",
  "PT",
  "RO",
  "SK",
  "SI",
  "ES",
  "SE",
  "IS",
  "LI",
  "NO",
  "GB",
  "CH",
];

/** A code of `length` ASCII letters (country, state, currency), read uppercase. */
export function letterCode(length: number, message: string) {
  return z
    .string()
    .trim()
    .regex(new RegExp(`^[A-Za-z]{${length}}$`), message)
    .transform((s) => s.toUpperCase());
}

const countryCode = letterCode(2, "Use two-letter country codes, e.g. DE");
const stateCode = letterCode(2, "Use two-letter state codes, e.g. CA");

export const settingsSchema = z.object({
  /** Which order webhook makes the Purchase. */
  purchaseTrigger: z.enum(["paid", "created"]).default("paid"),
  /** Purchase value: order total, or subtotal (without shipping and tax). */
  valueMode: z.enum(["total", "subtotal"]).default("total"),
  contentIdFormat: z.enum(CONTENT_ID_FORMATS).default("variant"),
  /** Country in Meta's Shopify catalog ids `shopify_<COUNTRY>_<product>_<variant>`. */
  catalogCountry: countryCode.default("US"),
  sources: z
    .object({
      online: z.boolean().default(true),
      draft: z.boolean().default(true),
      pos: z.boolean().default(true),
      subscription: z.boolean().default(false),
    })
    .prefault({}),
  /** A `Subscribe` event beside the Purchase of a subscription's first order (decisions 74). */
  subscribeEvent: z.boolean().default(false),
  /** Send browser events straight to Meta's pixel endpoint as well (the browser path). */
  browserPixel: z.boolean().default(true),
  /** Optional browser events sent as custom events. */
  customEvents: z
    .object({
      collectionViewed: z.boolean().default(false),
      cartViewed: z.boolean().default(false),
    })
    .prefault({}),
  consentPolicy: z.enum(CONSENT_POLICIES).default("shopify_rules"),
  optInRegions: z.array(countryCode).default(DEFAULT_OPT_IN_REGIONS),
  lduStates: z.array(stateCode).default(DEFAULT_LDU_STATES),
  /** A test event code switches itself off after this many hours, so test mode cannot leak into production. */
  testEventCodeTtlHours: z
    .number({ error: "Enter a number of hours." })
    .int("Enter a whole number of hours.")
    .min(1, "Use at least 1 hour.")
    .max(24 * 30, "Use at most 720 hours (30 days).")
    .default(24),
  /** Delivered events keep their ids, status and Meta's answer this long, then are pruned. */
  retentionDays: z
    .number({ error: "Enter a number of days." })
    .int("Enter a whole number of days.")
    .min(1, "Keep events at least 1 day.")
    .max(365, "Keep events at most 365 days.")
    .default(30),
});

export type ShopSettings = z.infer<typeof settingsSchema>;

export const DEFAULT_SETTINGS: ShopSettings = settingsSchema.parse({});

/** Reads stored settings; anything unreadable falls back to the defaults for that field, never throws. */
export function parseSettings(raw: unknown): ShopSettings {
  const value = typeof raw === "string" ? safeJson(raw) : raw;
  const parsed = settingsSchema.safeParse(value ?? {});
  return parsed.success ? parsed.data : DEFAULT_SETTINGS;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}
