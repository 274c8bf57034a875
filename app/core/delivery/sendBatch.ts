import {
  type ClaimedBatch,
  type ClaimedRow,
  type ErrorFields,
  isInsideWindow,
  jitter,
  STALE_MESSAGE,
} from "../outbox";
import {
  requestParts,
  type GraphFailure,
  type SendEventsResult,
} from "../meta";
import { eventsForMeta } from "../fast";

// What becomes of a claimed batch: the dispatcher's decisions (request parts, bisection, retries with backoff,
// pause, rate-limit backoff, lease renewal between requests), apart from the database and the network. Meta is
// asked through `send`; every decision is handed to `apply` as a step, in order, and the next request waits for it.
// The dispatcher writes the steps to the outbox and the shop; the unit tests record them.

export interface DeliveryPolicy {
  /** How long a claim holds its rows; every request after a claim's first renews the lease by this much. */
  leaseMs: number;
  /** First retry delay after a transient failure; doubles per attempt (with jitter) up to maxRetryMs. */
  retryBaseMs: number;
  maxRetryMs: number;
  /** First backoff of a shop after a rate limit; doubles while Meta keeps limiting, up to an hour. */
  rateLimitBaseMs: number;
  /** Attempts after which an event that fails for an unknown reason is given up as failed. */
  maxUnknownAttempts: number;
}

const MAX_RATE_LIMIT_MS = 60 * 60_000;

export type Step =
  /** Meta took the rows' events. */
  (
    | {
        kind: "sent";
        rows: ClaimedRow[];
        fbtraceId: string | null;
        eventsReceived: number;
      }
    /** Final: Meta rejected the event itself, or it is past Meta's window. */
    | { kind: "failed" | "expired"; rows: ClaimedRow[]; err: ErrorFields }
    /**
     * Back to pending until `at`. `countAttempt`: the claim's attempt counts (Meta was asked); `ambiguous`: the
     * request may have reached Meta.
     */
    | {
        kind: "retry";
        rows: ClaimedRow[];
        err: ErrorFields;
        at: Date;
        countAttempt: boolean;
        ambiguous: boolean;
      }
    /** The shop stops sending until the merchant fixes what `failure` names; its events are kept. */
    | { kind: "pause"; failure: GraphFailure }
    /** The shop sends nothing before `until` (Meta is rate limiting it). */
    | { kind: "backoff"; until: Date }
  ) & {
    /** A line for the operator's log. */
    note?: string;
  };

export interface DeliveryIO {
  /** One request to Meta with these events (JSON texts). */
  send(events: string[]): Promise<SendEventsResult>;
  /** Extends the lease of these rows to `until`; the ids still held (another dispatcher may have reclaimed some). */
  renewLease(ids: string[], until: Date): Promise<string[]>;
  /** Consecutive rate limits per dataset, kept across batches: each backs it off twice as long as the last. */
  rateLimits: Map<string, number>;
  apply(step: Step): Promise<void>;
}

/** Rows of a batch with their events as they go to Meta (JSON texts), index for index. */
interface Part {
  rows: ClaimedRow[];
  events: string[];
}

/** Meta said to stop sending for now (a pause, a rate limit): what the rows not sent yet go back with. */
interface Halt {
  err: ErrorFields;
  at: Date;
}

/** Rows that go back to pending without having been sent: their attempt is not counted. */
function unsent(rows: ClaimedRow[], { err, at }: Halt): Step {
  return {
    kind: "retry",
    rows,
    err,
    at,
    countAttempt: false,
    ambiguous: false,
  };
}

export async function sendBatch(
  batch: Pick<ClaimedBatch, "destinationId" | "rows">,
  io: DeliveryIO,
  policy: DeliveryPolicy,
): Promise<void> {
  // Meta rejects a whole request for one event past its window: such rows are expired, never sent.
  const now = new Date();
  const rows: ClaimedRow[] = [];
  const stale: ClaimedRow[] = [];
  for (const row of batch.rows)
    (isInsideWindow(row, now) ? rows : stale).push(row);
  if (stale.length) {
    const err = {
      code: null,
      subcode: null,
      message: STALE_MESSAGE,
      fbtraceId: null,
    };
    await io.apply({ kind: "expired", rows: stale, err });
  }
  if (rows.length === 0) return;
  // Requests of at most MAX_REQUEST_BYTES (decisions 44): a batch of very large orders goes in several parts.
  const { events, bytes } = eventsForMeta(rows);
  const parts: Part[] = [];
  let start = 0;
  for (const end of requestParts(bytes)) {
    parts.push({
      rows: rows.slice(start, end),
      events: events.slice(start, end),
    });
    start = end;
  }
  let requests = 0;

  /** Sends parts one after another; after a pause or a rate limit, the parts not sent yet go back unsent. */
  async function sendParts(parts: Part[]): Promise<Halt | null> {
    for (const [i, part] of parts.entries()) {
      const halt = await sendPart(part);
      if (!halt) continue;
      const rest = parts.slice(i + 1).flatMap((p) => p.rows);
      if (rest.length) await io.apply(unsent(rest, halt));
      return halt;
    }
    return null;
  }

  async function sendPart({ rows, events }: Part): Promise<Halt | null> {
    // A claim's first request goes at once. Each later one (another part, a half when bisecting) first extends the
    // lease of its rows, and sends only those still held: a batch that outlasts its lease is not sent again by a
    // dispatcher that reclaimed it meanwhile (decisions 43).
    if (requests++ > 0) {
      const until = new Date(Date.now() + policy.leaseMs);
      const held = new Set(
        await io.renewLease(
          rows.map((r) => r.id),
          until,
        ),
      );
      events = events.filter((_, i) => held.has(rows[i].id));
      rows = rows.filter((r) => held.has(r.id));
      if (rows.length === 0) return null;
    }
    const result = await io.send(events);
    if (result.ok) {
      await io.apply({
        kind: "sent",
        rows,
        fbtraceId: result.fbtraceId,
        eventsReceived: result.eventsReceived,
      });
      io.rateLimits.delete(batch.destinationId);
      return null;
    }

    const f = result.failure;
    const err = {
      code: f.code,
      subcode: f.subcode,
      message: f.message,
      fbtraceId: f.fbtraceId,
    };
    switch (f.info.retry) {
      case "isolate":
      case "expire": {
        if (rows.length > 1) {
          // Meta rejects the whole request for one bad event: halve until the bad ones stand alone.
          const mid = Math.ceil(rows.length / 2);
          return sendParts([
            { rows: rows.slice(0, mid), events: events.slice(0, mid) },
            { rows: rows.slice(mid), events: events.slice(mid) },
          ]);
        }
        await io.apply({
          kind: f.info.retry === "expire" ? "expired" : "failed",
          rows,
          err,
        });
        return null;
      }
      case "pause_shop": {
        const halt = { err, at: new Date() };
        await io.apply({ kind: "pause", failure: f });
        await io.apply(unsent(rows, halt));
        return halt;
      }
      case "long_backoff": {
        const n = (io.rateLimits.get(batch.destinationId) ?? 0) + 1;
        io.rateLimits.set(batch.destinationId, n);
        const until = new Date(
          Date.now() +
            jitter(
              Math.min(
                policy.rateLimitBaseMs * 2 ** (n - 1),
                MAX_RATE_LIMIT_MS,
              ),
            ),
        );
        await io.apply({ kind: "backoff", until });
        await io.apply({
          kind: "retry",
          rows,
          err,
          at: until,
          countAttempt: true,
          ambiguous: f.ambiguous,
          note: `rate limited by Meta (code ${f.code}), next try ${until.toISOString()}`,
        });
        return { err, at: until };
      }
      default: {
        const attempts = Math.max(...rows.map((r) => r.attempts));
        if (
          f.info.kind === "unknown" &&
          attempts >= policy.maxUnknownAttempts
        ) {
          await io.apply({ kind: "failed", rows, err });
          return null;
        }
        const delay = jitter(
          Math.min(policy.retryBaseMs * 2 ** (attempts - 1), policy.maxRetryMs),
        );
        await io.apply({
          kind: "retry",
          rows,
          err,
          at: new Date(Date.now() + delay),
          countAttempt: true,
          ambiguous: f.ambiguous,
          note: `${f.info.title} (${f.httpStatus ?? f.info.kind}); retry in ${Math.round(delay / 1000)} s`,
        });
        return null;
      }
    }
  }

  await sendParts(parts);
}
