// What the web pixel posts to the app's `POST /ingest` (decisions 16): the contract both sides compile against.
// The pixel bundles this file; the endpoint validates every body with the schema in core/intake/browserEvent.ts,
// which is checked at compile time to accept exactly these shapes.
//
// The pixel POSTs `JSON.stringify(body)` as a CORS "simple request" (a string body, so text/plain; no custom headers;
// keepalive) to the ingest URL from its settings, and does not read the answer.
//
// Unknown keys: the envelope `{ v, kind, shop, key, … }` is strict (unknown keys refused): it is versioned by `v`, so
// a pixel that needs a new envelope field bumps `v` and gets a clear "unsupported version" answer instead of having
// data silently dropped. Everything inside is lenient: unknown keys are accepted and dropped (never stored, never
// forwarded), so a newer pixel that adds an optional field keeps working with an older server.
//
// Privacy: user_data carries only SHA-256 hex, hashed in the browser; fbp/fbc are never hashed (Meta's rule).

export const INGEST_WIRE_VERSION = 1;
/** The largest body the endpoint reads at all (a 200-line checkout is ~30 kB). */
export const MAX_INGEST_BODY_BYTES = 64 * 1024;

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

/** What Shopify's Customer Privacy API told the browser (init.customerPrivacy / visitorConsentCollected). */
export interface ConsentSnapshot {
  marketingAllowed: boolean;
  analyticsProcessingAllowed?: boolean;
  preferencesProcessingAllowed?: boolean;
  saleOfDataAllowed?: boolean;
}

export interface BrowserCustomData {
  value?: number;
  currency?: string;
  content_ids?: string[];
  contents?: { id: string; quantity: number; item_price?: number }[];
  content_type?: "product" | "product_group";
  num_items?: number;
  search_string?: string;
}

/** SHA-256 hex only, hashed in the browser: a logged-in or checking-out shopper's keys (decisions 109). */
export interface BrowserUserData {
  em?: string[];
  ph?: string[];
  fn?: string[];
  ln?: string[];
  external_id?: string[];
}

export interface BrowserEventInput {
  event_name: BrowserEventName;
  /** The same id the browser pixel sends Meta as `eid`: Meta keeps one of the two. */
  event_id: string;
  /** Unix seconds. */
  event_time: number;
  event_source_url: string;
  referrer_url?: string;
  fbp?: string;
  fbc?: string;
  /** The pixel's id of the browser (Shopify's `clientId`). */
  client_id?: string;
  consent: ConsentSnapshot;
  checkout_token?: string;
  order_id?: string;
  custom_data?: BrowserCustomData;
  user_data?: BrowserUserData;
}

export interface IngestEventBodyInput {
  v: typeof INGEST_WIRE_VERSION;
  kind: "event";
  shop: string;
  key: string;
  event: BrowserEventInput;
}

export interface IngestConsentBodyInput {
  v: typeof INGEST_WIRE_VERSION;
  kind: "consent";
  shop: string;
  key: string;
  checkout_token?: string;
  client_id?: string;
  consent: ConsentSnapshot;
}

export type IngestBodyInput = IngestEventBodyInput | IngestConsentBodyInput;
