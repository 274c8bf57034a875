import { createHmac, timingSafeEqual } from "node:crypto";

// Shopify's webhook signature, checked the way @shopify/shopify-api checks it (base64 HMAC-SHA256 of the raw body
// with the app's client secret, compared in constant time; then the required headers). Order webhooks use this
// instead of authenticate.webhook, which also loads (and may refresh, over the network) the shop's offline session
// on every delivery: order intake needs neither, and it runs for every order. Other topics keep the library.

export interface WebhookRequest {
  method: string;
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

export type WebhookVerdict = { ok: true; webhook: SignedWebhook } | { ok: false; status: 400 | 401 | 405; reason: string };

const REQUIRED = { shop: "x-shopify-shop-domain", webhookId: "x-shopify-webhook-id", topic: "x-shopify-topic", apiVersion: "x-shopify-api-version" };

export function verifyWebhook(req: WebhookRequest, secret: string): WebhookVerdict {
  // shopifyApp() refuses to start without a secret; this guards a verifier used on its own.
  if (!secret) throw new Error("SHOPIFY_API_SECRET is not set: webhooks cannot be verified");
  if (req.method !== "POST") return { ok: false, status: 405, reason: "webhooks are POST requests" };
  const hmac = req.header("x-shopify-hmac-sha256");
  if (!hmac) return { ok: false, status: 400, reason: "missing X-Shopify-Hmac-Sha256" };
  const expected = createHmac("sha256", secret).update(req.body).digest();
  const given = Buffer.from(hmac, "base64");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 401, reason: "HMAC does not verify" };
  }
  const webhook = {} as SignedWebhook;
  const missing: string[] = [];
  for (const [key, name] of Object.entries(REQUIRED) as [keyof SignedWebhook, string][]) {
    const value = req.header(name);
    if (value) webhook[key] = value;
    else missing.push(name);
  }
  if (missing.length) return { ok: false, status: 400, reason: `missing headers: ${missing.join(", ")}` };
  return { ok: true, webhook };
}
