import { createHmac, timingSafeEqual } from "node:crypto";

// Shopify's webhook signature, checked the way @shopify/shopify-api checks it (base64 HMAC-SHA256 of the raw body
// with the app's client secret, compared in constant time; then the required headers). Every topic uses this
// instead of authenticate.webhook, which also loads (and may refresh, over the network) the shop's offline session
// on every delivery, and checks the HMAC of the body decoded as UTF-8 rather than of the bytes Shopify signed
// (decisions 28).
//
// Not the library's own validator either (`shopify.api.webhooks.validate`, @shopify/shopify-api 15), although it
// loads no session: it takes the body as a string (`rawBody: string`) and signs its UTF-8 encoding, so a body that
// is not valid UTF-8 (Shopify signs bytes, whatever they are) has no string it would verify, and an authentic
// delivery would be refused 401 and retried for hours. test/unit/shopifyWebhook.test.ts shows it.

export interface WebhookRequest {
  /** A header by lower-case name. */
  header(name: string): string | null | undefined;
  body: Buffer;
}

export interface SignedWebhook {
  shop: string;
  webhookId: string;
  topic: string;
  apiVersion: string;
}

export type WebhookVerdict =
  | { ok: true; webhook: SignedWebhook }
  | { ok: false; status: 400 | 401; reason: string };

const REQUIRED = {
  shop: "x-shopify-shop-domain",
  webhookId: "x-shopify-webhook-id",
  topic: "x-shopify-topic",
  apiVersion: "x-shopify-api-version",
};

export function verifyWebhook(
  req: WebhookRequest,
  secret: string,
): WebhookVerdict {
  // shopifyApp() refuses to start without a secret; this guards a verifier used on its own.
  if (!secret)
    throw new Error(
      "SHOPIFY_API_SECRET is not set: webhooks cannot be verified",
    );
  const hmac = req.header("x-shopify-hmac-sha256");
  if (!hmac)
    return { ok: false, status: 400, reason: "missing X-Shopify-Hmac-Sha256" };
  // Compared as the base64 text Shopify sends: decoding the header first would also take other spellings of the
  // same bytes (trailing junk, a repeated header that Node joins with ", ").
  const expected = Buffer.from(
    createHmac("sha256", secret).update(req.body).digest("base64"),
  );
  const given = Buffer.from(hmac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 401, reason: "HMAC does not verify" };
  }
  const webhook = {} as SignedWebhook;
  const missing: string[] = [];
  for (const [key, name] of Object.entries(REQUIRED) as [
    keyof SignedWebhook,
    string,
  ][]) {
    const value = req.header(name);
    if (value) webhook[key] = value;
    else missing.push(name);
  }
  if (missing.length)
    return {
      ok: false,
      status: 400,
      reason: `missing headers: ${missing.join(", ")}`,
    };
  return { ok: true, webhook };
}
