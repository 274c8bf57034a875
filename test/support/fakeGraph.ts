import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import type { CapiEvent } from "../../app/core/wire/metaEvent";

// A fake Meta Graph API on a real HTTP server (127.0.0.1, random port), for end-to-end tests, the offline demo
// and the benchmark. It answers the calls the app makes with Meta's bodies, status codes and error codes (the
// events edge, the pixel lookup, and the read-backs: debug_token, the pixel's stats edge, dataset_quality), and lets
// a test script failures, latency, rejected events, a token's expiry and scopes, other senders' counts and Meta's
// quality verdict.

export type FakeGraphResponse =
  | {
      status: number;
      code: number;
      subcode?: number;
      message?: string;
      is_transient?: boolean;
    }
  /** Destroy the socket after reading the request: the client sees a connection reset. */
  | "reset"
  /** Never answer: the client times out. */
  | "hang";

export interface FakeGraphRequest {
  /** 0-based position among the requests since start or the last reset. */
  index: number;
  /** Date.now() when the request arrived. */
  time: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; null when there was none or it was not JSON. */
  body: unknown;
  /** Size of the request body in bytes, as it arrived. */
  bytes: number;
  version: string | null;
  pixelId: string | null;
  accessToken: string | null;
  testEventCode: string | null;
  /** The `data` array of an events request, [] otherwise. */
  events: CapiEvent[];
  /** What the fake answered, once it has. */
  status: number | "reset" | "hang" | null;
  /** The fbtrace_id of the answer, so a test can check the client kept it. */
  fbtraceId: string | null;
  /** An events batch that Meta would have taken. */
  accepted: boolean;
}

export type Latency = number | ((req: FakeGraphRequest) => number);

export interface FakeGraphOptions {
  port?: number;
  latencyMs?: Latency;
  /** Take events for (and look up) any pixel with any token: for the benchmark and the standalone demo. */
  acceptAnyPixel?: boolean;
  /** false: keep counts only, not requests and their bodies (the benchmark's memory). Default true. */
  recordBodies?: boolean;
  /** Called after each answer, with the full request even when bodies are not recorded. */
  onAnswer?: (req: FakeGraphRequest) => void;
}

export interface FakeGraph {
  /** `http://127.0.0.1:PORT`: use as META_GRAPH_API_URL. */
  url: string;
  /** Every request since start or reset (empty when recordBodies is false). */
  requests: FakeGraphRequest[];
  addPixel(id: string, opts: { name: string; token: string }): void;
  /**
   * What `debug_token` says of a token (default: valid, never expires, ads_management). Without `ads_read` or
   * `ads_management` in its scopes, the stats and dataset quality reads are refused as Meta refuses them (#200).
   */
  setTokenInfo(
    token: string,
    info: { valid?: boolean; expiresAt?: Date | null; scopes?: string[] },
  ): void;
  /**
   * Events Meta counted for a pixel besides those the fake accepted: another integration's server events, or
   * browser events (WEB_ONLY, which the fake never receives). The stats edge answers accepted + these.
   */
  addStats(
    pixelId: string,
    source: "SERVER_ONLY" | "WEB_ONLY",
    counts: { hour: Date; eventName: string; count: number }[],
  ): void;
  /** The `web` list the Dataset Quality API answers for a pixel (default: none). */
  setQuality(pixelId: string, web: unknown[]): void;
  setLatency(latency: Latency): void;
  /** The next n requests get this response. */
  failNext(n: number, response: FakeGraphResponse): void;
  /** Every matching request gets this response until reset or the returned function is called. */
  failOn(
    predicate: (req: FakeGraphRequest, index: number) => boolean,
    response: FakeGraphResponse,
  ): () => void;
  /** A batch with a matching event is rejected whole, 400 code 100 subcode 2804050, as Meta does. */
  rejectEvents(predicate: (event: CapiEvent) => boolean): void;
  /** Accepted events, flattened in arrival order. */
  eventsReceived(pixelId?: string): CapiEvent[];
  /** Number of accepted events; counted even when bodies are not recorded. */
  eventCount(pixelId?: string): number;
  /** Accepted event batches. */
  eventRequests(): FakeGraphRequest[];
  /** Resolves with the accepted events once at least n were accepted; rejects after timeoutMs. */
  waitForEvents(n: number, timeoutMs?: number): Promise<CapiEvent[]>;
  /** Forgets requests, counts, token infos, stats, quality, scripted failures, rejections and latency; registered pixels stay. */
  reset(): void;
  close(): Promise<void>;
}

const VERSION_PATTERN = /^v\d+\.\d+$/;
const DAY_SECONDS = 86_400;

interface Reply {
  status: number;
  body: unknown;
  trace: string;
}

interface ScriptedFailure {
  predicate: (req: FakeGraphRequest, index: number) => boolean;
  response: FakeGraphResponse;
}

export async function startFakeGraph(
  opts: FakeGraphOptions = {},
): Promise<FakeGraph> {
  const recordBodies = opts.recordBodies ?? true;
  const pixels = new Map<string, { name: string; token: string }>();
  const tokenInfo = new Map<
    string,
    { valid?: boolean; expiresAt?: Date | null; scopes?: string[] }
  >();
  const extraStats = new Map<
    string,
    { hour: Date; eventName: string; count: number }[]
  >();
  const quality = new Map<string, unknown[]>();
  /** Accepted events per pixel, by hour of event_time and name: what the stats edge counts from servers. */
  let serverCounts = new Map<string, Map<string, number>>();
  let latency: Latency = opts.latencyMs ?? 0;
  let requests: FakeGraphRequest[] = [];
  let requestCount = 0;
  let countsByPixel = new Map<string, number>();
  let acceptedEvents = 0;
  let nextFailures: FakeGraphResponse[] = [];
  let scripted: ScriptedFailure[] = [];
  let rejectors: ((event: CapiEvent) => boolean)[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];

  function tokenError(pixelId: string, token: string | null): Reply | null {
    // Meta checks the token before the object, and answers 104 when there is none.
    if (!token)
      return error(
        400,
        104,
        undefined,
        "An access token is required to request this resource.",
      );
    const pixel = pixels.get(pixelId);
    if (pixel && pixel.token !== token) {
      return error(
        400,
        190,
        460,
        "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
      );
    }
    if (!pixel && !opts.acceptAnyPixel) {
      return error(
        400,
        100,
        33,
        `Unsupported post request. Object with ID '${pixelId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
      );
    }
    return null;
  }

  function lookup(req: FakeGraphRequest): Reply {
    const pixelId = req.pixelId as string;
    const denied = tokenError(pixelId, req.accessToken);
    if (denied) return withGetWording(denied);
    return {
      status: 200,
      body: {
        id: pixelId,
        name: pixels.get(pixelId)?.name ?? `Pixel ${pixelId}`,
      },
      trace: traceId(),
    };
  }

  function events(req: FakeGraphRequest): Reply {
    const denied = tokenError(req.pixelId as string, req.accessToken);
    if (denied) return denied;
    const data = (req.body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length === 0) {
      return error(
        400,
        100,
        undefined,
        "(#100) The parameter data is required",
      );
    }
    if (data.length > 1000) {
      return error(
        400,
        100,
        undefined,
        "(#100) param data must be an array with at most 1000 elements",
      );
    }
    const now = Date.now() / 1000;
    const tooOld = data.some((event: CapiEvent) => {
      const windowDays = event?.action_source === "physical_store" ? 62 : 7;
      return (
        typeof event?.event_time === "number" &&
        event.event_time < now - windowDays * DAY_SECONDS
      );
    });
    if (tooOld) {
      return error(400, 100, 2804003, "Invalid parameter", {
        error_user_title: "Event Timestamp Too Old",
        error_user_msg:
          "The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred. Enter a timestamp that has occurred within the last 7 days.",
      });
    }
    if (
      rejectors.length > 0 &&
      data.some((event: CapiEvent) => rejectors.some((reject) => reject(event)))
    ) {
      return error(400, 100, 2804050, "Invalid parameter", {
        error_user_title: "Too Few Customer Information Parameters",
        error_user_msg:
          "The event has too few customer information parameters to be matched to a Meta account. Add more customer information parameters to the event.",
      });
    }
    req.events = data;
    req.accepted = true;
    acceptedEvents += data.length;
    const pixelId = req.pixelId as string;
    countsByPixel.set(pixelId, (countsByPixel.get(pixelId) ?? 0) + data.length);
    if (!req.testEventCode) {
      const counts = serverCounts.get(pixelId) ?? new Map<string, number>();
      for (const event of data as CapiEvent[]) {
        const key = `${Math.floor(event.event_time / 3600) * 3_600_000}|${event.event_name}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      serverCounts.set(pixelId, counts);
    }
    const trace = traceId();
    return {
      status: 200,
      body: { events_received: data.length, messages: [], fbtrace_id: trace },
      trace,
    };
  }

  function isKnownToken(token: string): boolean {
    return (
      opts.acceptAnyPixel === true ||
      [...pixels.values()].some((p) => p.token === token)
    );
  }

  // Meta answers debug_token with the token's metadata, is_valid false (and why) for a token it no longer takes.
  function debugToken(req: FakeGraphRequest): Reply {
    const input = req.query.input_token;
    if (!req.accessToken || !input)
      return error(
        400,
        100,
        undefined,
        "(#100) The parameter input_token is required",
      );
    if (!isKnownToken(req.accessToken))
      return error(400, 190, undefined, defaultMessage(190));
    const info = tokenInfo.get(input) ?? {};
    const valid = info.valid ?? isKnownToken(input);
    const expires = info.expiresAt
      ? Math.floor(info.expiresAt.getTime() / 1000)
      : 0;
    return ok({
      data: {
        app_id: "1234567890",
        type: "SYSTEM_USER",
        application: "Shop CAPI",
        data_access_expires_at: 0,
        expires_at: expires,
        is_valid: valid,
        ...(valid
          ? {}
          : {
              error: {
                code: 190,
                subcode: 463,
                message: `Error validating access token: Session has expired on ${new Date(expires ? expires * 1000 : Date.now()).toUTCString()}.`,
              },
            }),
        scopes: info.scopes ?? ["ads_management", "business_management"],
        user_id: "100000000000001",
      },
    });
  }

  /** Reads of a pixel's data need ads_read or ads_management, as Meta's permissions reference says. */
  function readDenied(pixelId: string, token: string | null): Reply | null {
    const denied = tokenError(pixelId, token);
    if (denied) return withGetWording(denied);
    const scopes = tokenInfo.get(token as string)?.scopes;
    if (
      scopes &&
      !scopes.includes("ads_read") &&
      !scopes.includes("ads_management")
    )
      return error(
        400,
        200,
        undefined,
        "(#200) Requires ads_management or ads_read permission to manage the object",
      );
    return null;
  }

  function stats(req: FakeGraphRequest, pixelId: string): Reply {
    const denied = readDenied(pixelId, req.accessToken);
    if (denied) return denied;
    const source = req.query.event_source ?? "";
    if (
      req.query.aggregation !== "event" ||
      !["SERVER_ONLY", "WEB_ONLY"].includes(source)
    )
      return error(400, 100, undefined, "(#100) Invalid parameter");
    const start = Number(req.query.start_time) * 1000;
    const end = Number(req.query.end_time) * 1000;
    if (!(start < end))
      return error(
        400,
        100,
        undefined,
        "(#100) start_time must be before end_time",
      );
    // hour -> name -> count
    const buckets = new Map<number, Map<string, number>>();
    const add = (hour: number, name: string, count: number) => {
      if (hour < start - 3_600_000 || hour >= end) return;
      const b = buckets.get(hour) ?? new Map<string, number>();
      b.set(name, (b.get(name) ?? 0) + count);
      buckets.set(hour, b);
    };
    if (source === "SERVER_ONLY")
      for (const [key, count] of serverCounts.get(pixelId) ?? []) {
        const [hour, name] = key.split("|");
        add(Number(hour), name, count);
      }
    for (const row of extraStats.get(`${pixelId}|${source}`) ?? [])
      add(
        Math.floor(row.hour.getTime() / 3_600_000) * 3_600_000,
        row.eventName,
        row.count,
      );
    const all = [...buckets.entries()]
      .sort(([a], [b]) => b - a)
      .map(([hour, names]) => ({
        aggregation: "event",
        start_time: new Date(hour).toISOString().replace(".000Z", "+0000"),
        data: [...names].map(([value, count]) => ({ value, count })),
      }));
    // Pages of 24 buckets, with Meta's cursor links.
    const after = Number(req.query.after ?? 0);
    const page = all.slice(after, after + 24);
    const nextQuery = new URLSearchParams({
      ...req.query,
      after: String(after + 24),
    });
    return ok({
      data: page,
      paging:
        after + 24 < all.length
          ? { next: `${fake.url}${req.path}?${nextQuery}` }
          : {},
    });
  }

  function datasetQuality(req: FakeGraphRequest): Reply {
    const pixelId = req.query.dataset_id ?? "";
    if (!pixelId || !req.query.agent_name)
      return error(
        400,
        100,
        undefined,
        "(#100) The parameters dataset_id and agent_name are required",
      );
    const denied = readDenied(pixelId, req.accessToken);
    if (denied) return denied;
    return ok({ web: quality.get(pixelId) ?? [] });
  }

  function route(req: FakeGraphRequest): Reply {
    const parts = req.path.split("/").filter(Boolean);
    const [version, pixelId, edge] = parts;
    if (version && VERSION_PATTERN.test(version) && req.method === "GET") {
      if (parts.length === 2 && pixelId === "debug_token")
        return debugToken(req);
      if (parts.length === 2 && pixelId === "dataset_quality")
        return datasetQuality(req);
      if (parts.length === 3 && edge === "stats") return stats(req, pixelId);
    }
    if (version && VERSION_PATTERN.test(version) && pixelId) {
      if (req.method === "GET" && parts.length === 2) return lookup(req);
      if (req.method === "POST" && parts.length === 3 && edge === "events")
        return events(req);
    }
    return error(400, 2500, undefined, `Unknown path components: ${req.path}`);
  }

  function scriptedFailure(
    req: FakeGraphRequest,
  ): FakeGraphResponse | undefined {
    return (
      nextFailures.shift() ??
      scripted.find((s) => s.predicate(req, req.index))?.response
    );
  }

  async function handle(
    httpReq: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of httpReq) chunks.push(chunk as Buffer);
    const req = toRecord(httpReq, chunks, requestCount++);
    if (recordBodies) requests.push(req);

    const failure = scriptedFailure(req);
    const delay = typeof latency === "function" ? latency(req) : latency;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));

    if (failure === "hang") {
      req.status = "hang";
    } else if (failure === "reset") {
      req.status = "reset";
      httpReq.socket.destroy();
    } else {
      const reply = failure
        ? error(
            failure.status,
            failure.code,
            failure.subcode,
            failure.message ?? defaultMessage(failure.code),
            {
              is_transient: failure.is_transient ?? failure.status >= 500,
            },
          )
        : route(req);
      req.status = reply.status;
      req.fbtraceId = reply.trace;
      const payload = JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        "Content-Type": "application/json; charset=UTF-8",
        "Content-Length": Buffer.byteLength(payload),
        "x-fb-trace-id": reply.trace,
      });
      res.end(payload);
    }
    if (req.accepted) notifyWaiters();
    opts.onAnswer?.(req);
  }

  function notifyWaiters(): void {
    waiters = waiters.filter((w) => {
      if (acceptedEvents < w.n) return true;
      w.resolve();
      return false;
    });
  }

  const server = createServer((httpReq, res) => {
    handle(httpReq, res).catch((err: unknown) => {
      // A fault in the fake itself must show in the test, not as a hung request.
      console.error("fake Graph error:", err);
      if (!res.headersSent)
        res
          .writeHead(500, { "Content-Type": "text/plain" })
          .end(`fake Graph error: ${String(err)}`);
    });
  });
  // Longer than the client's keep-alive, so the client never reuses a socket the fake is closing.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const fake: FakeGraph = {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    addPixel(id, pixel) {
      pixels.set(id, { ...pixel });
    },
    setTokenInfo(token, info) {
      tokenInfo.set(token, { ...info });
    },
    addStats(pixelId, source, counts) {
      const key = `${pixelId}|${source}`;
      extraStats.set(key, [...(extraStats.get(key) ?? []), ...counts]);
    },
    setQuality(pixelId, web) {
      quality.set(pixelId, web);
    },
    setLatency(value) {
      latency = value;
    },
    failNext(n, response) {
      for (let i = 0; i < n; i++) nextFailures.push(response);
    },
    failOn(predicate, response) {
      const entry = { predicate, response };
      scripted.push(entry);
      return () => {
        scripted = scripted.filter((s) => s !== entry);
      };
    },
    rejectEvents(predicate) {
      rejectors.push(predicate);
    },
    eventsReceived(pixelId) {
      return fake
        .eventRequests()
        .filter((r) => pixelId === undefined || r.pixelId === pixelId)
        .flatMap((r) => r.events);
    },
    eventCount(pixelId) {
      return pixelId === undefined
        ? acceptedEvents
        : (countsByPixel.get(pixelId) ?? 0);
    },
    eventRequests() {
      return requests.filter((r) => r.accepted);
    },
    waitForEvents(n, timeoutMs = 5_000) {
      if (acceptedEvents >= n) return Promise.resolve(fake.eventsReceived());
      return new Promise((resolve, reject) => {
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(fake.eventsReceived());
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(
            new Error(
              `fake Graph: expected ${n} events within ${timeoutMs} ms, received ${acceptedEvents}`,
            ),
          );
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    reset() {
      requests = [];
      requestCount = 0;
      countsByPixel = new Map();
      serverCounts = new Map();
      tokenInfo.clear();
      extraStats.clear();
      quality.clear();
      acceptedEvents = 0;
      nextFailures = [];
      scripted = [];
      rejectors = [];
      latency = opts.latencyMs ?? 0;
    },
    close() {
      // Hung requests and idle keep-alive sockets would keep close() waiting.
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };
  return fake;
}

function toRecord(
  httpReq: IncomingMessage,
  chunks: Buffer[],
  index: number,
): FakeGraphRequest {
  const url = new URL(httpReq.url ?? "/", "http://fake");
  const query = Object.fromEntries(url.searchParams);
  let body: unknown = null;
  const raw = Buffer.concat(chunks);
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      body = null;
    }
  }
  const fields = (body ?? {}) as {
    access_token?: unknown;
    test_event_code?: unknown;
  };
  const parts = url.pathname.split("/").filter(Boolean);
  return {
    index,
    time: Date.now(),
    method: httpReq.method ?? "GET",
    path: url.pathname,
    query,
    headers: httpReq.headers,
    body,
    bytes: raw.length,
    version: parts[0] ?? null,
    pixelId: parts[1] ?? null,
    accessToken:
      query.access_token ??
      (typeof fields.access_token === "string" ? fields.access_token : null),
    testEventCode:
      typeof fields.test_event_code === "string"
        ? fields.test_event_code
        : null,
    events: [],
    status: null,
    fbtraceId: null,
    accepted: false,
  };
}

/** Meta's error body; `extra` carries error_user_title/msg and is_transient. */
function error(
  status: number,
  code: number,
  subcode: number | undefined,
  message: string,
  extra: Record<string, unknown> = {},
): Reply {
  const trace = traceId();
  return {
    status,
    body: {
      error: {
        message,
        type: "OAuthException",
        code,
        ...(subcode === undefined ? {} : { error_subcode: subcode }),
        is_transient: false,
        ...extra,
        fbtrace_id: trace,
      },
    },
    trace,
  };
}

function ok(body: unknown): Reply {
  return { status: 200, body, trace: traceId() };
}

function withGetWording(reply: Reply): Reply {
  const err = (reply.body as { error: { message: string } }).error;
  err.message = err.message.replace(
    "Unsupported post request.",
    "Unsupported get request.",
  );
  return reply;
}

function defaultMessage(code: number): string {
  const messages: Record<number, string> = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    341: "(#341) Application limit reached",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
  };
  return messages[code] ?? `(#${code}) Scripted failure`;
}

function traceId(): string {
  return randomBytes(8).toString("base64url");
}

// Standalone for the offline demo: `tsx test/support/fakeGraph.ts --port 8787 [--pixel ID=TOKEN ...]`.
// Without --pixel it takes any pixel and token. It logs events, never tokens.
if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href
) {
  const args = process.argv.slice(2);
  const valueOf = (flag: string) =>
    args.flatMap((a, i) => (a === flag && args[i + 1] ? [args[i + 1]] : []));
  const registered = valueOf("--pixel").map((p) => p.split("="));
  const fake = await startFakeGraph({
    port: Number(valueOf("--port")[0] ?? 8787),
    acceptAnyPixel: registered.length === 0,
    recordBodies: false,
    onAnswer(req) {
      const what = req.accepted
        ? `${req.events.length} event(s): ${req.events.map((e) => `${e.event_name} ${e.event_id}`).join(", ")}`
        : `answered ${req.status}`;
      const test = req.testEventCode
        ? ` test_event_code=${req.testEventCode}`
        : "";
      console.log(`[fake-graph] ${req.method} ${req.path} ${what}${test}`);
    },
  });
  for (const [id, token] of registered)
    fake.addPixel(id, { name: `Pixel ${id}`, token: token ?? "" });
  console.log(`Fake Meta Graph API listening on ${fake.url}`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
