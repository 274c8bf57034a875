import { z } from "zod";
import {
  numericId,
  safePageUrl,
  FBC_PATTERN,
  FBP_PATTERN,
  BROWSER_EVENT_NAMES,
  INGEST_WIRE_VERSION,
  MAX_INGEST_BODY_BYTES,
  type CapiEvent,
  type CustomData,
  type UserData,
  type IngestBodyInput,
} from "../wire";

// The pixel endpoint's validation of what the web pixel posts (the contract is core/wire/ingestBody.ts, which the
// pixel bundles; this schema is checked below to accept exactly those shapes). Types, sizes and formats of known
// keys are strict; unknown keys inside the envelope are stripped. Never throws: `parseIngestBody` answers with an
// error that names the field, never its value.

export const EVENT_ID_PATTERN = /^[A-Za-z0-9_:.-]{1,128}$/;
const SHOP_DOMAIN_PATTERN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
const SHA256_HEX = /^[a-f0-9]{64}$/i;
const ORDER_ID_PATTERN = /^(\d{1,30}|gid:\/\/shopify\/[A-Za-z]+\/\d{1,30})$/;
const MAX_ITEMS = 200;

// Free text is stored and forwarded: PostgreSQL refuses NUL and unpaired surrogates (in text and in jsonb), and
// Meta has no use for control characters. Rejected with a clear message rather than failing the write.
export const UNSAFE_TEXT =
  /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const safeText = (min: number, max: number) =>
  z
    .string()
    .min(min, `must be at least ${min} character${min === 1 ? "" : "s"}`)
    .max(max, `must be at most ${max} characters`)
    .refine(
      (s) => !UNSAFE_TEXT.test(s),
      "must not contain control characters or invalid Unicode",
    );

/** An http(s) page URL, stored and forwarded in its safe form (no checkout token or other private link: decisions 36). */
const pageUrl = (max: number) =>
  safeText(1, max).transform((s, ctx) => {
    const safe = safePageUrl(s);
    if (safe === null)
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
    return safe ?? z.NEVER;
  });

const BROWSER_USER_KEYS = ["em", "ph", "fn", "ln", "external_id"] as const;

const sha256List = z
  .array(
    z
      .string()
      .regex(
        SHA256_HEX,
        "must be SHA-256 hex (64 hex characters, hashed in the browser)",
      )
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
  content_ids: z
    .array(contentIdString)
    .max(MAX_ITEMS, `at most ${MAX_ITEMS} ids`)
    .optional(),
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
  fn: sha256List.optional(),
  ln: sha256List.optional(),
  external_id: sha256List.optional(),
});

export const browserEventSchema = z.object({
  event_name: z.enum(BROWSER_EVENT_NAMES),
  event_id: z
    .string()
    .regex(EVENT_ID_PATTERN, "must be 1-128 characters of A-Z a-z 0-9 _ : . -"),
  event_time: z
    .number()
    .int("must be whole Unix seconds")
    .min(1_000_000_000, "must be Unix seconds")
    .max(9_999_999_999, "must be Unix seconds, not milliseconds"),
  event_source_url: pageUrl(2048),
  referrer_url: pageUrl(2048).optional(),
  fbp: z
    .string()
    .regex(FBP_PATTERN, "must look like fb.1.<ms>.<random>[.<appendix>]")
    .optional(),
  fbc: safeText(1, 600)
    .regex(FBC_PATTERN, "must look like fb.1.<ms>.<fbclid>[.<appendix>]")
    .optional(),
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

export const ingestBodySchema = z.discriminatedUnion(
  "kind",
  [ingestEventBodySchema, ingestConsentBodySchema],
  {
    error: (issue) =>
      issue.code === "invalid_union"
        ? 'must be "event" or "consent"'
        : undefined,
  },
);

/** What the endpoint gets after validation (hashes lower-cased, unknown inner keys stripped). */
export type IngestBody = z.output<typeof ingestBodySchema>;
export type BrowserEvent = z.output<typeof browserEventSchema>;

// The schema accepts exactly the wire contract: a change to either side that the other lacks fails to compile.
type Same<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2
    ? true
    : false;
const schemaMatchesWire: Same<
  z.input<typeof ingestBodySchema>,
  IngestBodyInput
> = true;
void schemaMatchesWire;

export type ParseIngestResult =
  { ok: true; body: IngestBody } | { ok: false; error: string };

const MAX_ERROR_CHARS = 300;

/** Validates the raw request text. Never throws; errors are short and never echo the input. */
export function parseIngestBody(text: string): ParseIngestResult {
  if (typeof text !== "string" || text.length === 0)
    return { ok: false, error: "empty body" };
  if (text.length > MAX_INGEST_BODY_BYTES) {
    return {
      ok: false,
      error: `body too large (max ${MAX_INGEST_BODY_BYTES} bytes)`,
    };
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
    const path = issue.path
      .map((p) => (typeof p === "number" ? `[${p}]` : String(p)))
      .join(".");
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
  for (const key of BROWSER_USER_KEYS) {
    const hashes = event.user_data?.[key];
    if (hashes?.length) user_data[key] = [...hashes];
  }
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
  if (event.order_id)
    custom.order_id = numericId(event.order_id) ?? event.order_id;
  if (Object.keys(custom).length > 0) capi.custom_data = custom;
  return capi;
}
