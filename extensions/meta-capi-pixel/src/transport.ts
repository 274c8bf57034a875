import type {
  BrowserEventInput,
  IngestBodyInput,
} from "../../../app/core/wire";
import type { ShopperField } from "./shopper";

// The two ways out of the sandbox. Both are fire-and-forget `fetch(..., { keepalive: true })`
// (browser.sendBeacon is deprecated in the Web Pixels API).

export const META_PIXEL_ENDPOINT = "https://www.facebook.com/tr";
/** Browsers and Meta's edge accept long URLs, but stay well inside the common 8 kB limit. */
const MAX_PIXEL_URL = 7800;
/** keepalive bodies share a 64 KiB in-flight budget per page. */
const MAX_POST_CHARS = 60_000;

/** The shopper's hashed keys, sent as Meta's advanced matching (`ud[...]`). */
export type PixelHashes = Partial<Record<ShopperField, string>>;

/**
 * Meta's image-pixel request for one event (`eid` is the dedup key shared with the server's event_id).
 * `ldu` adds Limited Data Use with country/state 0 (Meta geolocates), used when saleOfDataAllowed is false.
 */
export function pixelUrl(
  pixelId: string,
  event: BrowserEventInput,
  tsMs: number,
  hashes: PixelHashes,
  ldu: boolean,
): string {
  const build = (withContents: boolean, withIds: boolean) => {
    const p = new URLSearchParams();
    p.set("id", pixelId);
    p.set("ev", event.event_name);
    p.set("eid", event.event_id);
    p.set("dl", event.event_source_url);
    if (event.referrer_url) p.set("rl", event.referrer_url);
    p.set("ts", String(tsMs));
    if (event.fbp) p.set("fbp", event.fbp);
    if (event.fbc) p.set("fbc", event.fbc);
    const cd = event.custom_data;
    if (cd) {
      if (cd.value !== undefined) p.set("cd[value]", String(cd.value));
      if (cd.currency) p.set("cd[currency]", cd.currency);
      if (withIds && cd.content_ids?.length)
        p.set("cd[content_ids]", JSON.stringify(cd.content_ids));
      if (cd.content_type && (withIds || withContents))
        p.set("cd[content_type]", cd.content_type);
      if (withContents && cd.contents?.length)
        p.set("cd[contents]", JSON.stringify(cd.contents));
      if (cd.num_items !== undefined)
        p.set("cd[num_items]", String(cd.num_items));
      if (cd.search_string) p.set("cd[search_string]", cd.search_string);
    }
    for (const [field, hash] of Object.entries(hashes))
      if (hash) p.set(`ud[${field}]`, hash);
    if (ldu) {
      p.set("dpo", "LDU");
      p.set("dpoco", "0");
      p.set("dpost", "0");
    }
    return `${META_PIXEL_ENDPOINT}?${p.toString()}`;
  };
  let url = build(true, true);
  if (url.length > MAX_PIXEL_URL) url = build(false, true);
  if (url.length > MAX_PIXEL_URL) url = build(false, false);
  return url;
}

export function sendPixel(url: string): void {
  send(url, { method: "GET", mode: "no-cors", keepalive: true });
}

/**
 * POST to the app as a CORS simple request: a string body (text/plain;charset=UTF-8 by default) and NO custom
 * headers, so no preflight; the answer is not read. Settles (never rejects) when the answer or an error comes.
 */
export function postToApp(
  ingestUrl: string,
  body: IngestBodyInput,
): Promise<unknown> {
  let text = JSON.stringify(body);
  if (
    text.length > MAX_POST_CHARS &&
    body.kind === "event" &&
    body.event.custom_data
  ) {
    const { contents: _c, ...rest } = body.event.custom_data;
    text = JSON.stringify({
      ...body,
      event: { ...body.event, custom_data: rest },
    });
  }
  return send(ingestUrl, { method: "POST", body: text, keepalive: true });
}

function send(url: string, init: RequestInit): Promise<unknown> {
  try {
    const p = fetch(url, init);
    if (p && typeof p.catch === "function") return p.catch(() => undefined);
  } catch {
    // never let a network problem surface in the storefront
  }
  return Promise.resolve();
}
