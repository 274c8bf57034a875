import {
  register,
  type PixelEvents,
  type StandardEventName,
} from "@shopify/web-pixels-extension";
import {
  type ConsentSnapshot,
  type BrowserEventInput,
  type IngestBodyInput,
  type RouteFacts,
  route,
  safePageUrl,
} from "../../../app/core/wire";
import { readConfig } from "./config";
import { mapEvent, type HandledEventName, type MappedEvent } from "./events";
import { sha256Hex } from "./hash";
import { Identity } from "./identity";
import { shopperValues, type ShopperField } from "./shopper";
import { pixelUrl, postToApp, sendPixel, type PixelHashes } from "./transport";

// Meta Conversions API web pixel (strict sandbox).
//
// For every handled Shopify standard event, when the visitor allows marketing:
//   - server path: POST { v: 1, kind: "event", shop, key, event } to settings.ingestUrl (text/plain, no headers);
//   - browser path (settings.browserPixel === "true"): GET https://www.facebook.com/tr?id&ev&eid&...
// with the SAME event_id on both (Shopify's event id; Purchase: purchase_<order id> as on the server).
// When marketing is not allowed nothing goes to Meta and the app gets only { kind: "consent" } updates.
//
// `register` comes from @shopify/web-pixels-extension, which calls the runtime's global
// `shopify.extend("WebPixel::Render", fn)`; the bundle therefore expects that global (see scripts/build-pixel.ts).

type Consent = ConsentSnapshot;
const CONSENT_KEYS = [
  "marketingAllowed",
  "analyticsProcessingAllowed",
  "preferencesProcessingAllowed",
  "saleOfDataAllowed",
] as const;

/** Copies the four booleans Shopify reports; anything missing keeps its previous value. */
function nextConsent(prev: Consent, src: unknown): Consent {
  const out: Consent = { ...prev };
  if (src && typeof src === "object") {
    for (const k of CONSENT_KEYS) {
      const v = (src as Record<string, unknown>)[k];
      if (typeof v === "boolean") out[k] = v;
    }
  }
  return out;
}

/**
 * The page's http(s) URL in its safe form (no checkout token or other private link, for Meta's dl/rl and the app:
 * decisions 36), at most 2048 characters (a longer one loses its query), else null.
 */
function wireUrl(href: unknown): string | null {
  if (typeof href !== "string" || !href) return null;
  const safe = safePageUrl(href);
  if (safe === null || safe.length <= 2048) return safe;
  const u = new URL(safe);
  return `${u.origin}${u.pathname}`.slice(0, 2048);
}

/**
 * The app sends a browser's events only once it has stored a PageView from it (decisions 39): a page's other posts
 * wait for the answer to its PageView's, at most this long (a page whose PageView was not posted does not wait).
 */
const PAGE_VIEW_WAIT_MS = 1000;

/**
 * What the shopper's event says of itself for routing (decisions 136): a checkout's market and country (its
 * localization, else its shipping or billing address), the event's currency; storefront events are the online store's.
 */
function routeFacts(mapped: MappedEvent): RouteFacts {
  const checkout = mapped.checkout as
    | {
        localization?: {
          market?: { handle?: unknown } | null;
          country?: { isoCode?: unknown } | null;
        } | null;
        shippingAddress?: { countryCode?: unknown } | null;
        billingAddress?: { countryCode?: unknown } | null;
      }
    | null
    | undefined;
  const text = (v: unknown) => (typeof v === "string" && v ? v : null);
  const country =
    text(checkout?.localization?.country?.isoCode) ??
    text(checkout?.shippingAddress?.countryCode) ??
    text(checkout?.billingAddress?.countryCode);
  return {
    market: text(checkout?.localization?.market?.handle),
    country: country && country.toUpperCase(),
    currency: mapped.customData?.currency ?? null,
    channel: "online_store",
  };
}

function eventTimeMs(timestamp: unknown, fallback: number): number {
  const t = typeof timestamp === "string" ? Date.parse(timestamp) : NaN;
  // a clock far off (more than a day) is not trusted: use the current time
  return Number.isFinite(t) && Math.abs(t - fallback) < 86_400_000
    ? t
    : fallback;
}

register(({ analytics, browser, init, settings, customerPrivacy }) => {
  const cfg = readConfig(settings);
  const shop = String(init?.data?.shop?.myshopifyDomain ?? "")
    .trim()
    .toLowerCase();
  const landingHref = init?.context?.document?.location?.href;
  // Privacy first: without a readable snapshot, marketing counts as not allowed.
  let consent: Consent = nextConsent(
    { marketingAllowed: false },
    init?.customerPrivacy,
  );
  let checkoutToken: string | undefined;
  let clientId: string | undefined;
  let lastConsentPost = "";
  /** Settles when this page's PageView post has been answered, or was not made. */
  let pageViewAnswered: Promise<unknown> = Promise.resolve();

  function afterPageView(): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise(
      (resolve) => (timer = setTimeout(resolve, PAGE_VIEW_WAIT_MS)),
    );
    return Promise.race([pageViewAnswered, timeout]).finally(() =>
      clearTimeout(timer),
    );
  }

  const identity = new Identity({
    get: (name) => browser.cookie.get(name),
    set: (cookie) => browser.cookie.set(cookie),
  });
  if (consent.marketingAllowed) void identity.ensure(landingHref);

  const canPost = () => Boolean(cfg.ingestUrl && shop && cfg.shopKey);

  function postConsent(): void {
    if (!canPost()) return;
    const body: IngestBodyInput = {
      v: 1,
      kind: "consent",
      shop,
      key: cfg.shopKey,
      consent: { ...consent },
    };
    if (checkoutToken) body.checkout_token = checkoutToken;
    if (clientId) body.client_id = clientId;
    const fingerprint = JSON.stringify(body);
    if (fingerprint === lastConsentPost) return;
    lastConsentPost = fingerprint;
    postToApp(cfg.ingestUrl!, body);
  }

  // A logged-in shopper is known on every page (decisions 109). Fields may be null without protected customer data
  // access: fewer keys, never an error.
  const customer = init?.data?.customer;

  async function hashKeys(mapped: MappedEvent): Promise<PixelHashes> {
    const values = Object.entries(shopperValues(customer, mapped.checkout));
    const hashes = await Promise.all(values.map(([, v]) => sha256Hex(v)));
    const out: PixelHashes = {};
    values.forEach(([field], i) => {
      if (hashes[i]) out[field as ShopperField] = hashes[i];
    });
    return out;
  }

  async function handle<K extends HandledEventName>(
    name: K,
    event: PixelEvents[K],
  ): Promise<void> {
    // Set before the first await, so that the page's next events (published right after) wait for this one.
    let pageViewPosted: ((posted?: Promise<unknown>) => void) | undefined;
    if (name === "page_viewed")
      pageViewAnswered = new Promise((resolve) => (pageViewPosted = resolve));
    try {
      const mapped = mapEvent(name, event, cfg);
      if (!mapped) return;
      if (typeof event.clientId === "string" && event.clientId)
        clientId = event.clientId.slice(0, 128);
      if (mapped.checkoutToken) checkoutToken = mapped.checkoutToken;
      if (!consent.marketingAllowed) {
        // Only the consent state, so a later order of this checkout knows the visitor said no (decision 3).
        if (mapped.checkoutToken) postConsent();
        return;
      }

      const href = event.context?.document?.location?.href ?? landingHref;
      const [ids, hashes] = await Promise.all([
        identity.ensure(href),
        hashKeys(mapped),
      ]);
      if (!consent.marketingAllowed) {
        // consent withdrawn while the ids were read
        if (mapped.checkoutToken) postConsent();
        return;
      }

      const now = Date.now();
      const tsMs = eventTimeMs(event.timestamp, now);
      const sourceUrl =
        wireUrl(href) ??
        wireUrl(landingHref) ??
        (shop ? `https://${shop}/` : null);
      if (!sourceUrl) return;
      const wire: BrowserEventInput = {
        event_name: mapped.eventName,
        event_id: mapped.eventId,
        event_time: Math.floor(tsMs / 1000),
        event_source_url: sourceUrl,
        consent: { ...consent },
      };
      const referrer = wireUrl(event.context?.document?.referrer);
      if (referrer) wire.referrer_url = referrer;
      if (ids.fbp) wire.fbp = ids.fbp;
      if (ids.fbc) wire.fbc = ids.fbc;
      if (clientId) wire.client_id = clientId;
      if (mapped.checkoutToken) wire.checkout_token = mapped.checkoutToken;
      if (mapped.orderId) wire.order_id = mapped.orderId;
      if (mapped.customData) wire.custom_data = mapped.customData;
      const fields = Object.keys(hashes) as ShopperField[];
      if (fields.length > 0) {
        wire.user_data = {};
        for (const field of fields) wire.user_data[field] = [hashes[field]!];
      }

      // A Purchase without an order id cannot carry the server's purchase_<n>: Meta could not deduplicate it.
      const dedupable =
        mapped.eventName !== "Purchase" || Boolean(mapped.orderId);
      // The browser copy goes to each dataset whose rule takes the event, with the server's event id (decisions 136).
      if (cfg.browserPixel && dedupable)
        for (const dataset of route(cfg.datasets, routeFacts(mapped)))
          sendPixel(
            pixelUrl(
              dataset.id,
              wire,
              tsMs,
              hashes,
              consent.saleOfDataAllowed === false,
            ),
          );

      if (!canPost()) return;
      const post = () =>
        postToApp(cfg.ingestUrl!, {
          v: 1,
          kind: "event",
          shop,
          key: cfg.shopKey,
          event: wire,
        });
      if (pageViewPosted) pageViewPosted(post());
      else {
        // A browser Purchase only brings its checkout's context, which needs no page view: it does not wait.
        if (mapped.eventName !== "Purchase") await afterPageView();
        post();
      }
    } catch {
      // a pixel must never break the storefront
    } finally {
      pageViewPosted?.();
    }
  }

  // Exact Shopify standard event names: the type parameter rejects a misspelt name at compile time
  // (analytics.subscribe itself accepts any string), and the tests check the names against the package.
  function on<K extends HandledEventName & StandardEventName>(name: K): void {
    analytics.subscribe(name, (event) => handle(name, event as PixelEvents[K]));
  }
  on("page_viewed");
  on("product_viewed");
  on("search_submitted");
  on("product_added_to_cart");
  on("checkout_started");
  on("payment_info_submitted");
  on("checkout_completed");
  if (cfg.collectionViewed) on("collection_viewed");
  if (cfg.cartViewed) on("cart_viewed");

  customerPrivacy.subscribe("visitorConsentCollected", (event) => {
    try {
      const before = consent.marketingAllowed;
      consent = nextConsent(consent, event?.customerPrivacy);
      if (!before && consent.marketingAllowed)
        void identity.ensure(landingHref);
      postConsent();
    } catch {
      // ignore
    }
  });
});
