import { register } from "@shopify/web-pixels-extension";
import type { PixelEvents, StandardEventName } from "@shopify/web-pixels-extension";
import type { BrowserConsent, BrowserEventInput, IngestBodyInput } from "../../../app/capi/browserEvent";
import { readConfig } from "./config";
import { mapEvent, type HandledEventName, type MappedEvent } from "./events";
import { normalizeEmail, normalizePhone, sha256Hex } from "./hash";
import { Identity } from "./identity";
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

type Consent = BrowserConsent;
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

/** http(s) URL of at most 2048 characters (a longer one loses its query), else null. */
function wireUrl(href: unknown): string | null {
  if (typeof href !== "string" || !href) return null;
  try {
    const u = new URL(href);
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    if (href.length <= 2048) return href;
    return `${u.origin}${u.pathname}`.slice(0, 2048);
  } catch {
    return null;
  }
}

function eventTimeMs(timestamp: unknown, fallback: number): number {
  const t = typeof timestamp === "string" ? Date.parse(timestamp) : NaN;
  // a clock far off (more than a day) is not trusted: use the current time
  return Number.isFinite(t) && Math.abs(t - fallback) < 86_400_000 ? t : fallback;
}

register(({ analytics, browser, init, settings, customerPrivacy }) => {
  const cfg = readConfig(settings);
  const shop = String(init?.data?.shop?.myshopifyDomain ?? "").trim().toLowerCase();
  const landingHref = init?.context?.document?.location?.href;
  // Privacy first: without a readable snapshot, marketing counts as not allowed.
  let consent: Consent = nextConsent({ marketingAllowed: false }, init?.customerPrivacy);
  let checkoutToken: string | undefined;
  let clientId: string | undefined;
  let lastConsentPost = "";

  const identity = new Identity({
    get: (name) => browser.cookie.get(name),
    set: (cookie) => browser.cookie.set(cookie),
  });
  if (consent.marketingAllowed) void identity.ensure(landingHref);

  const canPost = () => Boolean(cfg.ingestUrl && shop && cfg.shopKey);

  function postConsent(): void {
    if (!canPost()) return;
    const body: IngestBodyInput = { v: 1, kind: "consent", shop, key: cfg.shopKey, consent: { ...consent } };
    if (checkoutToken) body.checkout_token = checkoutToken;
    if (clientId) body.client_id = clientId;
    const fingerprint = JSON.stringify(body);
    if (fingerprint === lastConsentPost) return;
    lastConsentPost = fingerprint;
    postToApp(cfg.ingestUrl!, body);
  }

  async function hashKeys(mapped: MappedEvent): Promise<PixelHashes> {
    const c = mapped.checkout;
    if (!c) return {};
    // Fields may be null without protected customer data access: fewer keys, never an error.
    const email = normalizeEmail(c.email);
    const phone =
      normalizePhone(c.phone) ??
      normalizePhone(c.smsMarketingPhone) ??
      normalizePhone(c.shippingAddress?.phone) ??
      normalizePhone(c.billingAddress?.phone);
    const [em, ph] = await Promise.all([email ? sha256Hex(email) : null, phone ? sha256Hex(phone) : null]);
    const out: PixelHashes = {};
    if (em) out.em = em;
    if (ph) out.ph = ph;
    return out;
  }

  async function handle<K extends HandledEventName>(name: K, event: PixelEvents[K]): Promise<void> {
    try {
      const mapped = mapEvent(name, event, cfg);
      if (!mapped) return;
      if (typeof event.clientId === "string" && event.clientId) clientId = event.clientId.slice(0, 128);
      if (mapped.checkoutToken) checkoutToken = mapped.checkoutToken;
      if (!consent.marketingAllowed) {
        // Only the consent state, so a later order of this checkout knows the visitor said no (decision 3).
        if (mapped.checkoutToken) postConsent();
        return;
      }

      const href = event.context?.document?.location?.href ?? landingHref;
      const [ids, hashes] = await Promise.all([identity.ensure(href), hashKeys(mapped)]);
      if (!consent.marketingAllowed) {
        // consent withdrawn while the ids were read
        if (mapped.checkoutToken) postConsent();
        return;
      }

      const now = Date.now();
      const tsMs = eventTimeMs(event.timestamp, now);
      const sourceUrl = wireUrl(href) ?? wireUrl(landingHref) ?? (shop ? `https://${shop}/` : null);
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
      if (hashes.em || hashes.ph) {
        wire.user_data = {};
        if (hashes.em) wire.user_data.em = [hashes.em];
        if (hashes.ph) wire.user_data.ph = [hashes.ph];
      }

      if (canPost()) postToApp(cfg.ingestUrl!, { v: 1, kind: "event", shop, key: cfg.shopKey, event: wire });

      // A Purchase without an order id cannot carry the server's purchase_<n>: Meta could not deduplicate it.
      const dedupable = mapped.eventName !== "Purchase" || Boolean(mapped.orderId);
      if (cfg.browserPixel && cfg.pixelId && dedupable) {
        sendPixel(pixelUrl(cfg.pixelId, wire, tsMs, hashes, consent.saleOfDataAllowed === false));
      }
    } catch {
      // a pixel must never break the storefront
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
      if (!before && consent.marketingAllowed) void identity.ensure(landingHref);
      postConsent();
    } catch {
      // ignore
    }
  });
});
