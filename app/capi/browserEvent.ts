import { z } from "zod";
import { numericId } from "./eventId";
import type { CapiEvent, CustomData, UserData } from "./types";

// The wire contract between the web pixel (extensions/meta-capi-pixel) and the app's ingest endpoint.
//
// The pixel POSTs `JSON.stringify(body)` as a CORS "simple request" (string body => text/plain, no custom
// headers, keepalive) to the ingest URL from its settings. Framework-free: the route reads the raw text and
// calls `parseIngestBody`. The pixel imports only the TYPES from this file (`import type`), so zod is never
// bundled into the storefront.
//
// Unknown keys, decided:
// - the envelope `{ v, kind, shop, key, ... }` is STRICT (unknown keys rejected): it is versioned by `v`, so a
//   pixel that needs a new envelope field bumps `v` and gets a clear "unsupported version" answer instead of
//   having data silently dropped;
// - everything inside (`event`, `consent`, `custom_data`, `user_data`, `contents[]`) is LENIENT: unknown keys are
//   accepted and STRIPPED (never stored, never forwarded), so a newer pixel that adds an optional field keeps
//   working with an older server. Types, sizes and formats of known keys are strict.
//
// Privacy: user_data carries only SHA-256 hex hashed in the browser; anything that is not 64-hex is rejected
// (a raw e-mail in `em` is an error, not something to hash here). fbp/fbc are never hashed (Meta's rule).

export const INGEST_WIRE_VERSION = 1;
/** Upper bound of a body the endpoint should read at all (a 200-line checkout is ~30 kB). */
export const MAX_INGEST_BODY_CHARS = 64 * 1024;

export const BROWSER_EVENT_NAMES = [
  "PageView",
  "ViewContent",
  "Search",
  "AddToCart",
  "InitiateCheckout",
  "AddPaymentInfo",
  "Purchase",
  "ViewCollection",
  "ViewCart",
] as const;
export type BrowserEventName = (typeof BROWSER_EVENT_NAMES)[number];

/** `fb.{subdomainIndex}.{creationTimeMs}.{random int}` */
export const FBP_PATTERN = /^fb\.\d\.\d{10,14}\.\d{1,20}$/;
/** `fb.{subdomainIndex}.{creationTimeMs}.{fbclid}` (fbclid case-sensitive, ≤ 500 chars) */
export const FBC_PATTERN = /^fb\.\d\.\d{10,14}\.\S{1,500}$/;
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_:.-]{1,128}$/;
const SHOP_DOMAIN_PATTERN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
const SHA256_HEX = /^[a-f0-9]{64}$/i;
const ORDER_ID_PATTERN = /^(\d{1,30}|gid:\/\/shopify\/[A-Za-z]+\/\d{1,30})$/;
const MAX_ITEMS = 200;

// Free text is stored and forwarded: PostgreSQL refuses NUL and unpaired surrogates (in text and in jsonb), and
// Meta has no use for control characters. Rejected with a clear message rather than failing the write.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const safeText = (min: number, max: number) =>
  z
    .string()
    .min(min, `must be at least ${min} character${min === 1 ? "" : "s"}`)
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !UNSAFE_TEXT.test(s), "must not contain control characters or invalid Unicode");

const httpUrl = (max: number) =>
  safeText(1, max)
    .refine((s) => {
      try {
        const u = new URL(s);
        return u.protocol === "https:" || u.protocol === "http:";
      } catch {
        return false;
      }
    }, "must be an http(s) URL");

const sha256List = z
  .array(
    z
      .string()
      .regex(SHA256_HEX, "must be SHA-256 hex (64 hex characters, hashed in the browser)")
      .transform((s) => s.toLowerCase()),
  )
  .max(5, "at most 5 values");

export const consentSchema = z.object({
  marketingAllowed: z.boolean(),
  analyticsProcessingAllowed: z.boolean().optional(),
  preferencesProcessingAllowed: z.boolean().optional(),
  saleOfDataAllowed: z.boolean().optional(),
});

const contentIdString = safeText(1, 200);

export const browserCustomDataSchema = z.object({
  value: z.number().finite().min(0).max(1e9).optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be a 3-letter ISO 4217 code in capitals")
    .optional(),
  content_ids: z.array(contentIdString).max(MAX_ITEMS, `at most ${MAX_ITEMS} ids`).optional(),
  contents: z
    .array(
      z.object({
        id: contentIdString,
        quantity: z.number().int().min(1).max(10_000),
        item_price: z.number().finite().min(0).max(1e9).optional(),
      }),
    )
    .max(MAX_ITEMS, `at most ${MAX_ITEMS} contents`)
    .optional(),
  // "product_group" is accepted too: the right value when content ids are Shopify product ids (item groups).
  content_type: z.enum(["product", "product_group"]).optional(),
  num_items: z.number().int().min(0).max(1_000_000).optional(),
  search_string: safeText(0, 500).optional(),
});

export const browserUserDataSchema = z.object({
  em: sha256List.optional(),
  ph: sha256List.optional(),
  external_id: sha256List.optional(),
});

export const browserEventSchema = z.object({
  event_name: z.enum(BROWSER_EVENT_NAMES),
  event_id: z.string().regex(EVENT_ID_PATTERN, "must be 1-128 characters of A-Z a-z 0-9 _ : . -"),
  event_time: z
    .number()
    .int("must be whole Unix seconds")
    .min(1_000_000_000, "must be Unix seconds")
    .max(9_999_999_999, "must be Unix seconds, not milliseconds"),
  event_source_url: httpUrl(2048),
  referrer_url: httpUrl(2048).optional(),
  fbp: z.string().regex(FBP_PATTERN, "must look like fb.1.<ms>.<random>").optional(),
  fbc: safeText(1, 600).regex(FBC_PATTERN, "must look like fb.1.<ms>.<fbclid>").optional(),
  client_id: safeText(1, 128).optional(),
  consent: consentSchema,
  checkout_token: safeText(1, 128).optional(),
  order_id: z
    .string()
    .max(64)
    .regex(ORDER_ID_PATTERN, "must be digits or a Shopify gid")
    .optional(),
  custom_data: browserCustomDataSchema.optional(),
  user_data: browserUserDataSchema.optional(),
});

const shopDomain = z
  .string()
  .max(255)
  .regex(SHOP_DOMAIN_PATTERN, "must be a <shop>.myshopify.com domain");
// The per-shop ingest key routes and filters noise; it is not a secret (it is on every storefront).
const ingestKey = z
  .string()
  .min(8, "must be at least 8 characters")
  .max(256)
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");
const wireVersion = z.literal(INGEST_WIRE_VERSION, {
  error: `unsupported wire version (this server speaks v: ${INGEST_WIRE_VERSION})`,
});

export const ingestEventBodySchema = z.strictObject({
  v: wireVersion,
  kind: z.literal("event"),
  shop: shopDomain,
  key: ingestKey,
  event: browserEventSchema,
});

export const ingestConsentBodySchema = z.strictObject({
  v: wireVersion,
  kind: z.literal("consent"),
  shop: shopDomain,
  key: ingestKey,
  checkout_token: safeText(1, 128).optional(),
  client_id: safeText(1, 128).optional(),
  consent: consentSchema,
});

export const ingestBodySchema = z.discriminatedUnion("kind", [ingestEventBodySchema, ingestConsentBodySchema], {
  error: (issue) =>
    issue.code === "invalid_union" ? 'must be "event" or "consent"' : undefined,
});

/** What the endpoint gets after validation (hashes lower-cased, unknown inner keys stripped). */
export type IngestBody = z.output<typeof ingestBodySchema>;
export type IngestEventBody = z.output<typeof ingestEventBodySchema>;
export type IngestConsentBody = z.output<typeof ingestConsentBodySchema>;
export type BrowserEvent = z.output<typeof browserEventSchema>;
export type BrowserConsent = z.output<typeof consentSchema>;
export type BrowserCustomData = z.output<typeof browserCustomDataSchema>;
export type BrowserUserData = z.output<typeof browserUserDataSchema>;
/** What the pixel builds and posts. */
export type IngestBodyInput = z.input<typeof ingestBodySchema>;
export type IngestEventBodyInput = z.input<typeof ingestEventBodySchema>;
export type IngestConsentBodyInput = z.input<typeof ingestConsentBodySchema>;
export type BrowserEventInput = z.input<typeof browserEventSchema>;

export type ParseIngestResult = { ok: true; body: IngestBody } | { ok: false; error: string };

const MAX_ERROR_CHARS = 300;

/** Validates the raw request text. Never throws; errors are short and never echo the input. */
export function parseIngestBody(text: string): ParseIngestResult {
  if (typeof text !== "string" || text.length === 0) return { ok: false, error: "empty body" };
  if (text.length > MAX_INGEST_BODY_CHARS) {
    return { ok: false, error: `body too large (max ${MAX_INGEST_BODY_CHARS} characters)` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: "body is not valid JSON" };
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return { ok: false, error: "body must be a JSON object" };
  }
  const parsed = ingestBodySchema.safeParse(json);
  if (parsed.success) return { ok: true, body: parsed.data };
  return { ok: false, error: formatIssues(parsed.error.issues) };
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, 3).map((issue) => {
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".");
    const where = path.replace(/\.\[/g, "[");
    const message = clip(issue.message, 120);
    return where ? `${clip(where, 80)}: ${message}` : message;
  });
  const more = issues.length > 3 ? ` (+${issues.length - 3} more)` : "";
  return clip(parts.join("; ") + more, MAX_ERROR_CHARS);
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Maps a validated browser event to a Conversions API event. Purely structural: consent, LDU and the merge
 * with the order webhook (which owns a Purchase's value, decision 4) are the caller's job.
 */
export function browserEventToCapi(
  event: BrowserEvent,
  ctx: { clientIp: string | null; userAgent: string | null },
): CapiEvent {
  const user_data: UserData = {};
  if (event.user_data?.em?.length) user_data.em = [...event.user_data.em];
  if (event.user_data?.ph?.length) user_data.ph = [...event.user_data.ph];
  if (event.user_data?.external_id?.length) user_data.external_id = [...event.user_data.external_id];
  if (event.fbp) user_data.fbp = event.fbp;
  if (event.fbc) user_data.fbc = event.fbc;
  if (ctx.clientIp) user_data.client_ip_address = ctx.clientIp;
  if (ctx.userAgent) user_data.client_user_agent = ctx.userAgent;

  const capi: CapiEvent = {
    event_name: event.event_name,
    event_time: event.event_time,
    event_id: event.event_id,
    action_source: "website",
    event_source_url: event.event_source_url,
    user_data,
  };
  if (event.referrer_url) capi.referrer_url = event.referrer_url;

  const custom: CustomData = {};
  const cd = event.custom_data;
  if (cd) {
    if (cd.value !== undefined) custom.value = cd.value;
    if (cd.currency !== undefined) custom.currency = cd.currency;
    if (cd.content_type !== undefined) custom.content_type = cd.content_type;
    if (cd.content_ids?.length) custom.content_ids = [...cd.content_ids];
    if (cd.contents?.length) {
      custom.contents = cd.contents.map((c) =>
        c.item_price === undefined
          ? { id: c.id, quantity: c.quantity }
          : { id: c.id, quantity: c.quantity, item_price: c.item_price },
      );
    }
    if (cd.num_items !== undefined) custom.num_items = cd.num_items;
    if (cd.search_string !== undefined) custom.search_string = cd.search_string;
  }
  if (event.order_id) custom.order_id = numericId(event.order_id) ?? event.order_id;
  if (Object.keys(custom).length > 0) capi.custom_data = custom;
  return capi;
}
