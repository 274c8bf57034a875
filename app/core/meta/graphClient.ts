import {
  classifyGraphError,
  type GraphErrorInfo,
  type NetworkFailure,
} from "./graphErrors";

// The one Graph API client. It never throws and never lets the access token out: every outcome is a value,
// and every message it returns has the token replaced. Requests go out through a transport (fetch in production);
// what Meta's answer means is decided here, above it.

export interface GraphConfig {
  baseUrl: string;
  version: string;
  timeoutMs: number;
  /** How requests reach Meta; fetch when absent. Unit tests script Meta's answers here. */
  transport?: GraphTransport;
}

/** One HTTP request to the Graph API, as the client puts it together (the token is in the URL or the body). */
export interface GraphRequest {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Meta's answer as it arrives: `text()` may still fail (a reset or a timeout while the body is read). */
export interface GraphResponse {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/**
 * The seam between the client and the network: sends one request and gives back the answer, or rejects as fetch
 * does (the client tells timeouts, resets and refusals apart by the error, and parses, classifies and redacts).
 */
export type GraphTransport = (
  request: GraphRequest,
  timeoutMs: number,
) => Promise<GraphResponse>;

/** The production transport: fetch, aborted after `timeoutMs`, headers and body included. */
const fetchTransport: GraphTransport = ({ url, ...init }, timeoutMs) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });

export const DEFAULT_GRAPH_VERSION = "v24.0";
const DEFAULT_GRAPH_URL = "https://graph.facebook.com";
const DEFAULT_TIMEOUT_MS = 10_000;
const VERSION_PATTERN = /^v\d+\.\d+$/;

/** Sent as `partner_agent` so Meta can attribute the events to this integration. */
export const PARTNER_AGENT = "meta-capi-shopify";

/**
 * The largest request body the dispatcher sends (decisions 44). Meta documents at most 1,000 events per request
 * and no size limit; a full batch of ordinary events is 1–2 MB, while 1,000 orders of 1,500 lines made 94 MB.
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Room for the body around the events: `{"data":[…],` the access token, test event code and partner agent `}`. */
const ENVELOPE_BYTES = 4 * 1024;

/** Reads the Graph settings; throws on an invalid value so a typo stops the process at start, not at send. */
export function graphConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  override?: { version?: string | null },
): GraphConfig {
  const baseUrl = (env.META_GRAPH_API_URL?.trim() || DEFAULT_GRAPH_URL).replace(
    /\/+$/,
    "",
  );
  if (!/^https?:\/\/[^/]+/.test(baseUrl) || !URL.canParse(baseUrl)) {
    throw new Error(
      `META_GRAPH_API_URL must be an http(s) URL such as ${DEFAULT_GRAPH_URL}, got "${baseUrl}"`,
    );
  }
  const version =
    override?.version?.trim() ||
    env.META_GRAPH_API_VERSION?.trim() ||
    DEFAULT_GRAPH_VERSION;
  if (!VERSION_PATTERN.test(version)) {
    throw new Error(
      `Graph API version must look like ${DEFAULT_GRAPH_VERSION}, got "${version}"`,
    );
  }
  const rawTimeout = env.META_GRAPH_TIMEOUT_MS?.trim();
  const timeoutMs = rawTimeout ? Number(rawTimeout) : DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new Error(
      `META_GRAPH_TIMEOUT_MS must be a positive number of milliseconds, got "${rawTimeout}"`,
    );
  }
  return { baseUrl, version, timeoutMs };
}

export interface GraphFailure {
  info: GraphErrorInfo;
  httpStatus: number | null;
  code: number | null;
  subcode: number | null;
  message: string;
  fbtraceId: string | null;
  /** The request may have reached Meta (timeout or reset after sending, or a 5xx): a resend may duplicate. */
  ambiguous: boolean;
}

export type LookupPixelResult =
  { ok: true; id: string; name: string } | { ok: false; failure: GraphFailure };

export type SendEventsResult =
  | {
      ok: true;
      eventsReceived: number;
      fbtraceId: string | null;
      messages: unknown[];
    }
  | { ok: false; failure: GraphFailure };

const PIXEL_ID_PATTERN = /^\d{1,32}$/;
/** Error bodies can be whole HTML pages from a proxy: keep enough to diagnose, not the page. */
const MAX_MESSAGE_CHARS = 500;

/** Checks a pixel (dataset) id and the token's access to it: `GET /{pixel}?fields=id,name`. */
export async function lookupPixel(
  cfg: GraphConfig,
  pixelId: string,
  accessToken: string,
): Promise<LookupPixelResult> {
  const invalid = invalidPixelId(pixelId);
  if (invalid) return { ok: false, failure: invalid };
  const url = `${cfg.baseUrl}/${cfg.version}/${pixelId}?fields=id,name&access_token=${encodeURIComponent(accessToken)}`;
  const answer = await request(cfg, { method: "GET", url }, accessToken);
  if (!answer.ok) return answer;
  const body = answer.body as { id?: unknown; name?: unknown } | null;
  if (body && typeof body.id === "string" && typeof body.name === "string") {
    return { ok: true, id: body.id, name: body.name };
  }
  return {
    ok: false,
    failure: unexpectedBody(answer.status, answer.fbtraceId, false),
  };
}

/**
 * Where to cut a batch of events into requests of at most `maxBytes` each, envelope included, given each event's
 * size in bytes (in order): the end index of each part. An event too large on its own goes alone.
 */
export function requestParts(
  eventBytes: readonly number[],
  maxBytes = MAX_REQUEST_BYTES,
): number[] {
  const ends: number[] = [];
  let size = ENVELOPE_BYTES;
  eventBytes.forEach((bytes, i) => {
    // +1 for the comma between events.
    if (size + bytes + 1 > maxBytes && size > ENVELOPE_BYTES) {
      ends.push(i);
      size = ENVELOPE_BYTES;
    }
    size += bytes + 1;
  });
  if (eventBytes.length > 0) ends.push(eventBytes.length);
  return ends;
}

/**
 * Sends one batch (at most 1,000 events and MAX_REQUEST_BYTES, cut by the caller with requestParts) to
 * `POST /{pixel}/events`. Each event is one JSON object as text, as the outbox stores it: the body is put together
 * around them, not parsed and serialised again.
 */
export async function sendEvents(
  cfg: GraphConfig,
  pixelId: string,
  accessToken: string,
  eventsJson: readonly string[],
  opts?: { testEventCode?: string | null },
): Promise<SendEventsResult> {
  const invalid = invalidPixelId(pixelId);
  if (invalid) return { ok: false, failure: invalid };
  const rest = JSON.stringify({
    access_token: accessToken,
    ...(opts?.testEventCode ? { test_event_code: opts.testEventCode } : {}),
    partner_agent: PARTNER_AGENT,
  });
  const payload = `{"data":[${eventsJson.join(",")}],${rest.slice(1)}`;
  const url = `${cfg.baseUrl}/${cfg.version}/${pixelId}/events`;
  const headers = { "Content-Type": "application/json" };
  const answer = await request(
    cfg,
    { method: "POST", url, headers, body: payload },
    accessToken,
  );
  if (!answer.ok) return answer;
  const body = answer.body as {
    events_received?: unknown;
    messages?: unknown;
    fbtrace_id?: unknown;
  } | null;
  if (body && typeof body.events_received === "number") {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    return {
      ok: true,
      eventsReceived: body.events_received,
      fbtraceId:
        typeof body.fbtrace_id === "string"
          ? body.fbtrace_id
          : answer.fbtraceId,
      messages:
        messages.length > 0 ? redactDeep(messages, accessToken) : messages,
    };
  }
  // Meta said 2xx but not in its words: the events may well have been taken.
  return {
    ok: false,
    failure: unexpectedBody(answer.status, answer.fbtraceId, true),
  };
}

export type Answer =
  | { ok: true; status: number; body: unknown; fbtraceId: string | null }
  | { ok: false; failure: GraphFailure };

/**
 * `GET /{version}/{path}?{params}&access_token=…` for the read-backs (datasetReads.ts): Meta's JSON body, or the
 * failure classified and redacted like every other answer. `url` instead of a path follows a `paging.next` link.
 */
export function graphGet(
  cfg: GraphConfig,
  target: { path: string; params: Record<string, string> } | { url: string },
  accessToken: string,
): Promise<Answer> {
  const url =
    "url" in target
      ? target.url
      : `${cfg.baseUrl}/${cfg.version}/${target.path}?${new URLSearchParams({ ...target.params, access_token: accessToken })}`;
  return request(cfg, { method: "GET", url }, accessToken);
}

/** A 2xx answer whose body is not what the endpoint documents. */
export function unexpectedAnswer(status: number, fbtraceId: string | null) {
  return {
    ok: false as const,
    failure: unexpectedBody(status, fbtraceId, false),
  };
}

/** The pixel (dataset) id's check, for the read-backs: a failure, or null when it is digits only. */
export { invalidPixelId };

async function request(
  cfg: GraphConfig,
  req: GraphRequest,
  token: string,
): Promise<Answer> {
  let status: number | null = null;
  let headerTrace: string | null = null;
  try {
    const response = await (cfg.transport ?? fetchTransport)(
      req,
      cfg.timeoutMs,
    );
    status = response.status;
    headerTrace = response.headers.get("x-fb-trace-id");
    const text = await response.text();
    const body = parseJson(text);
    if (status >= 200 && status <= 299)
      return { ok: true, status, body, fbtraceId: headerTrace };
    return {
      ok: false,
      failure: httpFailure(status, body, text, headerTrace, token),
    };
  } catch (error) {
    return {
      ok: false,
      failure: networkFailure(error, status !== null, headerTrace, token),
    };
  }
}

interface MetaErrorBody {
  message?: unknown;
  code?: unknown;
  error_subcode?: unknown;
  error_user_title?: unknown;
  error_user_msg?: unknown;
  fbtrace_id?: unknown;
  is_transient?: unknown;
}

function httpFailure(
  status: number,
  body: unknown,
  text: string,
  headerTrace: string | null,
  token: string,
): GraphFailure {
  const error = (body as { error?: MetaErrorBody } | null)?.error;
  const code = typeof error?.code === "number" ? error.code : null;
  const subcode =
    typeof error?.error_subcode === "number" ? error.error_subcode : null;
  const info = classifyGraphError({
    httpStatus: status,
    code: code ?? undefined,
    subcode: subcode ?? undefined,
    isTransient: error?.is_transient === true,
  });
  let message: string;
  if (error && typeof error.message === "string") {
    // Meta's user title and message name the refused field (e.g. for 2804050), the plain message often does not.
    const detail = [error.error_user_title, error.error_user_msg].filter(
      (s) => typeof s === "string" && s,
    );
    message =
      detail.length > 0
        ? `${error.message} (${detail.join(": ")})`
        : error.message;
  } else {
    message = `HTTP ${status}${text.trim() ? `: ${text.trim()}` : ""}`;
  }
  return {
    info,
    httpStatus: status,
    code,
    subcode,
    message: truncate(redact(message, token)),
    fbtraceId:
      typeof error?.fbtrace_id === "string" ? error.fbtrace_id : headerTrace,
    ambiguous: status >= 500,
  };
}

/** `answered`: the status line arrived, so the failure came while reading the body, after Meta had the request. */
function networkFailure(
  error: unknown,
  answered: boolean,
  headerTrace: string | null,
  token: string,
): GraphFailure {
  const { network, sent } = describeNetworkError(error);
  return {
    ...failure(classifyGraphError({ network }), {
      message: truncate(
        redact(
          `${network === "timeout" ? "Timed out" : "Network error"}: ${errorMessage(error)}`,
          token,
        ),
      ),
      fbtraceId: headerTrace,
    }),
    ambiguous: answered || sent,
  };
}

/** Node's fetch (undici) reports the socket-level cause in `error.cause`. */
function describeNetworkError(error: unknown): {
  network: NetworkFailure;
  sent: boolean;
} {
  const name = (error as { name?: unknown })?.name;
  const cause = (
    error as { cause?: { code?: unknown; message?: unknown; name?: unknown } }
  )?.cause;
  const code = typeof cause?.code === "string" ? cause.code : "";
  if (code === "UND_ERR_CONNECT_TIMEOUT")
    return { network: "timeout", sent: false };
  if (name === "TimeoutError" || name === "AbortError")
    return { network: "timeout", sent: true };
  if (code === "ECONNREFUSED") return { network: "refused", sent: false };
  if (
    code === "ECONNRESET" ||
    code === "UND_ERR_SOCKET" ||
    code === "EPIPE" ||
    /socket hang up/i.test(String(cause?.message))
  ) {
    return { network: "reset", sent: true };
  }
  // DNS, routing and TLS errors happen before a byte of the request is sent.
  const beforeSending =
    ["ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"].includes(code) ||
    /CERT|TLS|SSL/.test(code);
  return { network: "other", sent: !beforeSending };
}

function invalidPixelId(pixelId: string): GraphFailure | null {
  if (typeof pixelId === "string" && PIXEL_ID_PATTERN.test(pixelId))
    return null;
  return failure(classifyGraphError({ code: 100, subcode: 33 }), {
    message: "The pixel (dataset) ID must contain digits only",
  });
}

function unexpectedBody(
  status: number,
  fbtraceId: string | null,
  ambiguous: boolean,
): GraphFailure {
  return {
    ...failure(classifyGraphError({ httpStatus: status }), {
      message: `Meta answered HTTP ${status} with an unexpected body`,
      fbtraceId,
    }),
    httpStatus: status,
    ambiguous,
  };
}

function failure(
  info: GraphErrorInfo,
  fields: { message: string; fbtraceId?: string | null },
): GraphFailure {
  return {
    info,
    httpStatus: null,
    code: null,
    subcode: null,
    message: fields.message,
    fbtraceId: fields.fbtraceId ?? null,
    ambiguous: false,
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = (error as { cause?: unknown })?.cause;
  // undici's own message is just "fetch failed"; the reason is in the cause.
  return cause instanceof Error && cause.message && cause.message !== message
    ? `${message} (${cause.message})`
    : message;
}

/** Replaces the token, raw and URL-encoded (fetch errors echo URLs), wherever it appears. */
function redact(text: string, token: string): string {
  if (!token) return text;
  let out = text.split(token).join("[redacted]");
  const encoded = encodeURIComponent(token);
  if (encoded !== token) out = out.split(encoded).join("[redacted]");
  return out;
}

function redactDeep<T>(value: T, token: string): T {
  const json = JSON.stringify(value);
  return json.includes(token) || json.includes(encodeURIComponent(token))
    ? JSON.parse(redact(json, token))
    : value;
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_CHARS
    ? `${text.slice(0, MAX_MESSAGE_CHARS)}…`
    : text;
}
