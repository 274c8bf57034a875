import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_INGEST_BODY_BYTES } from "../core/wire";

// Request bodies, read once for every route by the production server (scripts/start.mjs) before any handler sees
// them: capped by route, refused by Content-Length before a byte is read, cut off as they stream in, and held within
// one budget shared by every request in flight (decisions 25, 26). Also the capped reading of the fast routes' Remix
// adapters under `npm run dev`, where there is no such front (routes.server.ts).

const MB = 1024 * 1024;

/** The largest body each route family takes (decisions 25); routes.server.ts gives each fast route its own. */
export const BODY_LIMITS = {
  /** A 200-line checkout from the web pixel is ~30 kB. */
  ingest: MAX_INGEST_BODY_BYTES,
  /** Shopify's order payloads are rarely past 1 MB; this leaves room for very large B2B orders. */
  orderWebhook: 25 * MB,
  /** customers/redact lists every order of the customer to redact: 100,000 ids are ~1.6 MB. */
  webhook: 4 * MB,
  /** The login form and the admin's forms: a few kB. */
  other: 256 * 1024,
};

/** Bytes of request bodies this process holds at once, all requests together (decisions 26). */
export const BODY_BUDGET_BYTES = 32 * MB;
/** How long a client over the budget is asked to wait (Shopify retries a 503 later anyway). */
const RETRY_AFTER_SECONDS = 5;

/**
 * A body refused without being used is still read to its end, and dropped: left unread, the client's upload
 * stalls and it never sees the answer; closed at once, the connection is reset before it does. Past this many
 * bytes (only an abusive client sends that much) reading stops, and the connection is closed a little later,
 * once the client has had time to read the answer.
 */
const MAX_DISCARD_BYTES = 8 * MB;
const LINGER_MS = 1_000;

/**
 * The path as the router matches it, however it is spelled: without the query or a fragment, dot segments and
 * backslashes resolved as a URL parser (and so Remix) resolves them, percent-decoded, lower-case, without repeated
 * or trailing slashes. `/Webhooks//orders/./paid/?x` is `/webhooks/orders/paid`.
 */
export function routePath(url: string | undefined): string {
  let path = (url ?? "/").split("?", 1)[0];
  // Only when there is something to resolve: the common path skips the URL parser (which cannot fail on a path).
  if (path.startsWith("/") && /[.\\#]|%2e/i.test(path))
    path = new URL(`http://h${path}`).pathname;
  if (path.includes("%")) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // A malformed escape: matched as sent (the router will not find it either).
    }
  }
  path = path.toLowerCase().replace(/\/{2,}/g, "/");
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

export function isWebhookPath(path: string): boolean {
  return path.startsWith("/webhooks/");
}

/** A path for a log line: as sent, without its query (which may carry tokens), printable, bounded. */
export function logPath(url: string | undefined): string {
  const path = (url ?? "").split("?", 1)[0];
  return (
    path.slice(0, 200).replace(/[^\x21-\x7e]/g, "?") +
    (path.length > 200 ? "…" : "")
  );
}

export function tooLarge(limit: number): string {
  return `body too large (max ${limit} bytes)`;
}

let bodiesInFlight = 0;
const EMPTY = Buffer.alloc(0);

/**
 * Reads a request's body, at most `limit` bytes, within the process's body budget. Null when it was answered
 * instead (413 past the limit, 503 past the budget; with `headers`, the route's) or the client went away; the
 * budget is given back when the response ends. Never rejects.
 */
export function receiveBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  headers: Record<string, string> = {},
): Promise<Buffer | null> {
  const declared = req.headers["content-length"];
  if (declared === undefined && req.headers["transfer-encoding"] === undefined)
    return Promise.resolve(EMPTY);
  // Node's parser has checked it: digits only, and never together with Transfer-Encoding.
  const length = declared === undefined ? null : Number(declared);
  if (length !== null && length > limit)
    return Promise.resolve(refuse(req, res, 413, tooLarge(limit), headers));
  if (bodiesInFlight + (length ?? 0) > BODY_BUDGET_BYTES)
    return Promise.resolve(overBudget(req, res, headers));

  // A declared length is reserved whole, at once; a chunked body as it arrives.
  let held = length ?? 0;
  bodiesInFlight += held;
  res.once("close", () => {
    bodiesInFlight -= held;
    held = 0;
  });
  return new Promise((resolve) => {
    const whole = length === null ? null : Buffer.allocUnsafe(length);
    const parts: Buffer[] = [];
    let size = 0;
    const stop = (answer: null) => {
      req.removeListener("data", onData);
      resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      if (whole) {
        chunk.copy(whole, size);
        size += chunk.length;
        return;
      }
      size += chunk.length;
      if (size > limit)
        return stop(refuse(req, res, 413, tooLarge(limit), headers));
      if (bodiesInFlight + chunk.length > BODY_BUDGET_BYTES)
        return stop(overBudget(req, res, headers));
      bodiesInFlight += chunk.length;
      held += chunk.length;
      parts.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(whole ?? Buffer.concat(parts, size)));
    // The client went away (or the request timed out) before the end: nothing to answer.
    req.once("close", () => resolve(null));
    req.on("error", () => undefined);
  });
}

function overBudget(
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): null {
  console.log(
    `[http] ${req.method} ${logPath(req.url)}: 503, the bodies in flight are at their budget (${BODY_BUDGET_BYTES} bytes)`,
  );
  return refuse(req, res, 503, "the server is busy: retry later", {
    ...headers,
    "Retry-After": String(RETRY_AFTER_SECONDS),
  });
}

/** The Content-Type of every JSON answer, on both servers. */
export const JSON_TYPE = { "Content-Type": "application/json; charset=utf-8" };

/** Answers a request without using its body (JSON `{ error }`), and drops what is left of the body. */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  error: string,
  headers: Record<string, string> = {},
): null {
  return send(req, res, status, { error }, headers);
}

/** Answers a request (JSON, or nothing), and drops what is left of its body, if any is still arriving. */
export function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: object | null,
  headers: Record<string, string> = {},
): null {
  // Node closes the connection of a client that asked for it (Connection: close) as soon as the answer is
  // written; with its upload still arriving, the kernel then resets the connection and drops the answer. Kept
  // open, the rest is read and dropped below, and the client closes it.
  if (!req.complete) res.shouldKeepAlive = true;
  if (!res.headersSent) {
    if (body)
      res
        .writeHead(status, { ...headers, ...JSON_TYPE })
        .end(JSON.stringify(body));
    else res.writeHead(status, headers).end();
  }
  if (req.complete) return null; // nothing left to drop
  let dropped = 0;
  const drop = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped <= MAX_DISCARD_BYTES) return;
    req.removeListener("data", drop);
    req.pause();
    req.socket.end();
    setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  };
  req.on("data", drop);
  req.resume();
  return null;
}

/** Reads a Fetch Request's body, at most `limit` bytes; null when it is larger (declared, or as it streams in). */
export async function readCapped(
  chunks: AsyncIterator<Uint8Array>,
  contentLength: number,
  limit: number,
): Promise<Buffer | null> {
  if (contentLength > limit) {
    discardBody(chunks);
    return null;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await chunks.next();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      discardBody(chunks, size);
      return null;
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** The async-iterator form of refuse()'s dropping, for a Fetch Request's body (readCapped). */
function discardBody(chunks: AsyncIterator<Uint8Array>, alreadyRead = 0): void {
  void (async () => {
    let size = alreadyRead;
    for (;;) {
      const { done, value } = await chunks.next();
      if (done) return;
      size += value.byteLength;
      if (size > MAX_DISCARD_BYTES) return chunks.return?.();
    }
  })().catch(() => undefined); // the client went away
}

/** A Node request's header by its lower-case name, repeated ones joined as the Fetch API joins them. */
export function headerOf(
  req: IncomingMessage,
): (name: string) => string | null {
  return (name) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(", ") : (value ?? null);
  };
}
