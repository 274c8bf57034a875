import { createHmac, randomUUID } from "node:crypto";

// Delivers webhooks the way Shopify does: the HMAC covers the raw bytes sent, with the app's client secret,
// and every header Shopify sends is present unless a test leaves it out on purpose.

/** Shopify's `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body. */
export function signBody(rawBody: string | Uint8Array, secret: string): string {
  return createHmac("sha256", secret).update(rawBody).digest("base64");
}

export interface SendWebhookOptions {
  /** e.g. "orders/paid"; also the route: POST {baseUrl}/webhooks/orders/paid. */
  topic: string;
  shop: string;
  /** A string or Buffer is sent byte for byte (to test odd payloads); anything else as JSON. */
  body: unknown;
  secret: string;
  webhookId?: string;
  eventId?: string;
  apiVersion?: string;
  /** Sign with a different secret: a well-formed signature that does not verify. */
  badHmac?: boolean;
  /** Header names (any case) to leave out. */
  omitHeaders?: string[];
  /** `X-Shopify-Triggered-At`, when Shopify triggered the webhook (default now; a redelivery keeps the first). */
  triggeredAt?: string;
}

/** The request Shopify would send: path, headers and the raw body the signature covers. */
export function webhookRequest(opts: SendWebhookOptions): {
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
} {
  const raw =
    typeof opts.body === "string"
      ? opts.body
      : Buffer.isBuffer(opts.body)
        ? new Uint8Array(opts.body)
        : JSON.stringify(opts.body);
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": "Shopify-Captain-Hook",
    "X-Shopify-Topic": opts.topic,
    "X-Shopify-Hmac-Sha256": signBody(
      raw,
      opts.badHmac ? `${opts.secret}-wrong` : opts.secret,
    ),
    "X-Shopify-Shop-Domain": opts.shop,
    "X-Shopify-API-Version": opts.apiVersion ?? "2025-10",
    "X-Shopify-Webhook-Id": opts.webhookId ?? randomUUID(),
    "X-Shopify-Event-Id": opts.eventId ?? randomUUID(),
    "X-Shopify-Triggered-At": opts.triggeredAt ?? new Date().toISOString(),
  };
  const omit = new Set((opts.omitHeaders ?? []).map((h) => h.toLowerCase()));
  for (const name of Object.keys(headers))
    if (omit.has(name.toLowerCase())) delete headers[name];
  return { path: `/webhooks/${opts.topic}`, headers, body: raw };
}

export async function sendWebhook(
  baseUrl: string,
  opts: SendWebhookOptions,
): Promise<Response> {
  const req = webhookRequest(opts);
  return fetch(`${baseUrl.replace(/\/+$/, "")}${req.path}`, {
    method: "POST",
    headers: req.headers,
    body: req.body,
  });
}

/**
 * Shopify's documented orders are jsmith.myshopify.com's: as `shop`'s own, their status page is on its domain (a body
 * naming another shop is refused, decisions 35).
 */
export function asShopsOwn<T extends object & { order_status_url?: unknown }>(
  body: T,
  shop: string,
): T {
  return typeof body.order_status_url === "string"
    ? {
        ...body,
        order_status_url: body.order_status_url.replace(
          /^https:\/\/[^/]+/,
          `https://${shop}`,
        ),
      }
    : body;
}
