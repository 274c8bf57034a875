import { z } from "zod";

// Per-shop settings. Stored as JSON on the shop row and always read through `parseSettings`, so a row written
// by an older version gets the defaults for options it did not know.

export const CONSENT_POLICIES = ["shopify_rules", "strict", "always"] as const;
export type ConsentPolicy = (typeof CONSENT_POLICIES)[number];

export const CONTENT_ID_FORMATS = ["variant", "product", "sku", "shopify_catalog"] as const;
export type ContentIdFormat = (typeof CONTENT_ID_FORMATS)[number];

/** EEA + UK + Switzerland: regions where tracking needs an opt-in. */
export const DEFAULT_OPT_IN_REGIONS = [
  "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
  "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB", "CH",
];

/** US states whose privacy laws Meta's Limited Data Use covers. */
export const DEFAULT_LDU_STATES = ["CA", "CO", "CT", "FL", "OR", "TX"];

const countryCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{2}$/, "Use two-letter country codes, e.g. DE")
  .transform((s) => s.toUpperCase());
const stateCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{2}$/, "Use two-letter state codes, e.g. CA")
  .transform((s) => s.toUpperCase());

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
