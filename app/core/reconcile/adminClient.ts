// The Admin GraphQL API of one shop, for reconciliation: one query at a time within Shopify's cost budget. Requests
// go out through a transport (fetch in production); the tests' fake Shopify answers over real HTTP. Messages never
// carry the access token.

/** One request to the Admin API, as the client puts it together (the token is in a header). */
export interface AdminRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface AdminResponse {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The seam between the client and the network: sends one request, or rejects as fetch does. */
export type AdminTransport = (
  request: AdminRequest,
  timeoutMs: number,
) => Promise<AdminResponse>;

const fetchTransport: AdminTransport = ({ url, ...init }, timeoutMs) =>
  fetch(url, {
    method: "POST",
    ...init,
    signal: AbortSignal.timeout(timeoutMs),
  });

export interface AdminConfig {
  /** The shop's myshopify domain. */
  shop: string;
  /** The shop's offline access token (read_orders). */
  accessToken: string;
  /** "2026-10" */
  apiVersion: string;
  transport?: AdminTransport;
  timeoutMs?: number;
  /** Attempts of one query through THROTTLED answers and 429s; 1 never waits (a web request's count, decisions 80). */
  maxAttempts?: number;
  /** How the client waits (tests may count the waits); setTimeout when absent. */
  sleep?: (ms: number) => Promise<void>;
}

/** The query's cost, as Shopify reports it in `extensions.cost`. */
export interface QueryCost {
  requestedQueryCost: number;
  actualQueryCost: number | null;
  throttleStatus: {
    maximumAvailable: number;
    currentlyAvailable: number;
    restoreRate: number;
  };
}

/** A failure of the Admin API that ends the run (the watermark stays where the last whole page left it). */
export class AdminApiError extends Error {}

/** Attempts of one query through THROTTLED answers and 429s before the run gives up (decisions 77). */
const MAX_ATTEMPTS = 8;
/** The longest single wait: Shopify's bucket refills in seconds; a longer Retry-After ends the run instead. */
const MAX_WAIT_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 20_000;

const sleepFor = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Queries one shop's Admin API, waiting as Shopify documents for its leaky bucket (decisions 77): before a query,
 * until the bucket holds the last query's requested cost; on a THROTTLED answer, until it holds what this query
 * asked; on HTTP 429, for Retry-After (1 s without one).
 */
export class AdminClient {
  /** Waits so far and their total, for the run's report. */
  waits = 0;
  waitedMs = 0;
  private last: { cost: QueryCost; at: number } | null = null;

  constructor(private readonly cfg: AdminConfig) {}

  async query<T>(
    query: string,
    variables: Record<string, unknown>,
  ): Promise<T> {
    await this.waitForBudget(this.last?.cost.requestedQueryCost ?? 0);
    for (let attempt = 1; ; attempt++) {
      const answer = await this.send(query, variables);
      if (answer.kind === "data") return answer.data as T;
      const maxAttempts = this.cfg.maxAttempts ?? MAX_ATTEMPTS;
      if (attempt >= maxAttempts)
        throw new AdminApiError(
          `Shopify Admin API still throttled after ${maxAttempts} attempt(s) (${answer.why})`,
        );
      if (answer.waitMs > MAX_WAIT_MS)
        throw new AdminApiError(
          `Shopify Admin API asks to wait ${Math.ceil(answer.waitMs / 1000)} s (${answer.why}); the next run resumes`,
        );
      await this.wait(answer.waitMs);
    }
  }

  /** Waits until the bucket, refilled since the last answer, holds `cost`. */
  private async waitForBudget(cost: number): Promise<void> {
    if (!this.last || cost <= 0) return;
    const { currentlyAvailable, restoreRate, maximumAvailable } =
      this.last.cost.throttleStatus;
    const elapsedS = (Date.now() - this.last.at) / 1000;
    const available = Math.min(
      maximumAvailable,
      currentlyAvailable + restoreRate * elapsedS,
    );
    if (available < cost && restoreRate > 0)
      await this.wait(((cost - available) / restoreRate) * 1000);
  }

  private async wait(ms: number): Promise<void> {
    const rounded = Math.ceil(ms);
    this.waits++;
    this.waitedMs += rounded;
    await (this.cfg.sleep ?? sleepFor)(rounded);
  }

  private async send(
    query: string,
    variables: Record<string, unknown>,
  ): Promise<
    | { kind: "data"; data: unknown }
    | { kind: "wait"; waitMs: number; why: string }
  > {
    const { shop, apiVersion, accessToken } = this.cfg;
    let response: AdminResponse;
    let text: string;
    try {
      response = await (this.cfg.transport ?? fetchTransport)(
        {
          url: `https://${shop}/admin/api/${apiVersion}/graphql.json`,
          headers: {
            "Content-Type": "application/json",
            "X-Shopify-Access-Token": accessToken,
          },
          body: JSON.stringify({ query, variables }),
        },
        this.cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      text = await response.text();
    } catch (err) {
      throw new AdminApiError(
        `Shopify Admin API unreachable: ${redact((err as Error).message, accessToken)}`,
      );
    }
    if (response.status === 429) {
      const seconds = Number(response.headers.get("retry-after"));
      return {
        kind: "wait",
        waitMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000,
        why: "HTTP 429",
      };
    }
    if (response.status === 401 || response.status === 403)
      throw new AdminApiError(
        `Shopify refused the app's access token (HTTP ${response.status}): the merchant opens the app to renew it`,
      );
    if (response.status < 200 || response.status >= 300)
      throw new AdminApiError(
        `Shopify Admin API answered HTTP ${response.status}`,
      );
    let body: {
      data?: unknown;
      errors?: { message?: unknown; extensions?: { code?: unknown } }[];
      extensions?: { cost?: QueryCost };
    };
    try {
      body = JSON.parse(text);
    } catch {
      throw new AdminApiError("Shopify Admin API answered with invalid JSON");
    }
    const cost = validCost(body?.extensions?.cost);
    if (cost) this.last = { cost, at: Date.now() };
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    if (errors.some((e) => e?.extensions?.code === "THROTTLED")) {
      const status = cost?.throttleStatus;
      const missing = cost
        ? cost.requestedQueryCost - status!.currentlyAvailable
        : 0;
      return {
        kind: "wait",
        waitMs:
          status && status.restoreRate > 0 && missing > 0
            ? (missing / status.restoreRate) * 1000
            : 1000,
        why: "THROTTLED",
      };
    }
    if (errors.length)
      throw new AdminApiError(
        `Shopify Admin API error: ${redact(
          errors.map((e) => String(e?.message ?? "unknown")).join("; "),
          accessToken,
        ).slice(0, 300)}`,
      );
    if (!body?.data || typeof body.data !== "object")
      throw new AdminApiError("Shopify Admin API answered without data");
    return { kind: "data", data: body.data };
  }
}

function validCost(cost: unknown): QueryCost | null {
  const c = cost as QueryCost | undefined;
  const s = c?.throttleStatus;
  const finite = (n: unknown) => typeof n === "number" && Number.isFinite(n);
  return c &&
    finite(c.requestedQueryCost) &&
    s &&
    finite(s.currentlyAvailable) &&
    finite(s.restoreRate) &&
    finite(s.maximumAvailable)
    ? c
    : null;
}

function redact(message: string, token: string): string {
  return token ? message.split(token).join("[token]") : message;
}
