import { randomUUID } from "node:crypto";
import type { Db, Shop } from "./db";
import type { SqlStore } from "./sqlStore";
import { sendEvents, type GraphConfig, type GraphFailure } from "./graphClient";
import { UNKNOWN_ERROR_MAX_RETRIES } from "./graphErrors";
import { decryptToken, type KeyRing } from "./tokenCrypto";
import { parseSettings } from "./settings";
import {
  activeTestEventCode,
  claimBatch,
  eventForMeta,
  expireStale,
  isInsideWindow,
  markFinalError,
  markRetry,
  markSent,
  prune,
  reclaimExpiredLeases,
  releaseDueHeld,
  releaseLeases,
  STALE_MESSAGE,
  type ClaimedBatch,
} from "./outbox";

// Sends the outbox to Meta: per shop, batches of up to 1,000 events, several requests in flight, retries with
// backoff, a pause for errors only the merchant can fix, and bisection when Meta rejects a batch for one event.

export interface DispatcherOptions {
  db: Db;
  /** Claims and sent marks, the per-batch statements (Prisma does the rest). */
  store: SqlStore;
  keyRing: KeyRing;
  graph: (shop: Shop) => GraphConfig;
  batchSize?: number;
  concurrency?: number;
  leaseMs?: number;
  pollMs?: number;
  /** First retry delay after a transient failure; doubles per attempt (with jitter) up to maxRetryMs. */
  retryBaseMs?: number;
  maxRetryMs?: number;
  /** First pause of a shop after a rate limit; doubles while Meta keeps limiting. */
  rateLimitBaseMs?: number;
  /** Attempts after which an event that fails for an unknown reason is given up as failed. */
  maxUnknownAttempts?: number;
  onPause?: (shop: Shop, failure: GraphFailure) => void | Promise<void>;
  log?: (line: string) => void;
}

const HOUSEKEEPING_MS = 1_000;
const HEARTBEAT_MS = 5_000;
/** The sweep of rows past Meta's window reads every waiting row; claimed rows are checked at each claim anyway. */
const EXPIRE_SWEEP_MS = 5 * 60_000;
const PRUNE_MS = 10 * 60_000;
const DELIVERY_NOTE_MS = 2_000;

export class Dispatcher {
  readonly id = `dispatcher-${randomUUID().slice(0, 8)}`;
  private readonly o: Required<Omit<DispatcherOptions, "onPause">> & Pick<DispatcherOptions, "onPause">;
  private stopping = false;
  private workers: Promise<void>[] = [];
  private wakers: (() => void)[] = [];
  private dueShops: string[] = [];
  private housekeepingAt = 0;
  private heartbeatAt = 0;
  private pruneAt = 0;
  private expireSweepAt = 0;
  private deliveryNotedAt = new Map<string, number>();
  private housekeeping: Promise<void> | null = null;
  private leaseSeq = 0;
  private rateLimits = new Map<string, number>();
  private readonly startedAt = new Date();

  constructor(opts: DispatcherOptions) {
    this.o = {
      batchSize: 1000,
      concurrency: 4,
      leaseMs: 60_000,
      pollMs: 250,
      retryBaseMs: 2_000,
      maxRetryMs: 15 * 60_000,
      rateLimitBaseMs: 60_000,
      maxUnknownAttempts: UNKNOWN_ERROR_MAX_RETRIES,
      log: (line) => console.log(line),
      ...opts,
    };
  }

  start(): void {
    for (let i = 0; i < this.o.concurrency; i++) this.workers.push(this.work());
    this.o.log(`[dispatcher] ${this.id} started (${this.o.concurrency} workers)`);
  }

  /** New work arrived (an intake in this process): skip the poll wait. */
  wake(): void {
    this.dueShops.length = 0;
    this.housekeepingAt = 0;
    for (const w of this.wakers.splice(0)) w();
  }

  /** Stops claiming, lets in-flight requests finish within `graceMs`, then gives back every lease it holds. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.workers),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    const released = await releaseLeases(this.o.db, `${this.id}:`);
    await this.o.db.dispatcherHeartbeat.deleteMany({ where: { id: this.id } }).catch(() => undefined);
    this.o.log(`[dispatcher] ${this.id} stopped${released ? `, ${released} leased events returned to the queue` : ""}`);
  }

  /** One pass without the loop: housekeeping, then every due batch. For tests and the ops CLI. */
  async drain(): Promise<void> {
    this.housekeepingAt = 0;
    await this.runHousekeeping();
    for (;;) {
      const batch = await this.claimNext();
      if (!batch) return;
      await this.deliver(batch);
    }
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.runHousekeeping();
        const batch = await this.claimNext();
        if (batch) await this.deliver(batch);
        else await this.idle();
      } catch (err) {
        this.o.log(`[dispatcher] error: ${(err as Error).message}`);
        await this.idle();
      }
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.o.pollMs);
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Housekeeping runs in one worker at a time; the others wait for it rather than repeat it. */
  private async runHousekeeping(): Promise<void> {
    const now = Date.now();
    if (this.housekeeping) return this.housekeeping;
    if (now - this.housekeepingAt < HOUSEKEEPING_MS) return;
    this.housekeepingAt = now;
    this.housekeeping = (async () => {
      const db = this.o.db;
      const at = new Date(now);
      if (now - this.heartbeatAt >= HEARTBEAT_MS) {
        this.heartbeatAt = now;
        await db.dispatcherHeartbeat.upsert({
          where: { id: this.id },
          create: { id: this.id, beatAt: at, startedAt: this.startedAt },
          update: { beatAt: at },
        });
      }
      await reclaimExpiredLeases(db, at);
      await releaseDueHeld(db, at);
      if (now - this.expireSweepAt >= EXPIRE_SWEEP_MS) {
        this.expireSweepAt = now;
        await expireStale(db, at);
      }
      if (now - this.pruneAt >= PRUNE_MS) {
        this.pruneAt = now;
        await prune(db, at);
      }
    })().finally(() => {
      this.housekeeping = null;
    });
    return this.housekeeping;
  }

  private async claimNext(): Promise<(ClaimedBatch & { shop: Shop }) | null> {
    const db = this.o.db;
    for (let tries = 0; tries < 2; tries++) {
      if (this.dueShops.length === 0) {
        if (tries > 0) return null;
        await this.refreshDueShops();
        continue;
      }
      const shopId = this.dueShops.shift()!;
      const shop = await db.shop.findUnique({ where: { id: shopId } });
      if (!shop || !this.canSend(shop)) continue;
      const lease = `${this.id}:${++this.leaseSeq}`;
      const batch = await claimBatch(this.o.store, shopId, lease, { limit: this.o.batchSize, leaseMs: this.o.leaseMs });
      if (batch.rows.length === 0) continue;
      // A full batch suggests more is waiting: keep the shop in the rotation, behind the others.
      if (batch.rows.length === this.o.batchSize) this.dueShops.push(shopId);
      return { ...batch, shop };
    }
    return null;
  }

  private async refreshDueShops(): Promise<void> {
    const now = new Date();
    // Paused, uninstalled and rate-limited shops keep their rows pending; leave them out here, not per claim.
    // Asked per shop ("has a due row"), not grouped over the rows: a group-by reads the whole backlog (~200 ms for
    // 100,000 rows), and with several workers it ran before nearly every claim (npm run bench, delivery).
    const shops = await this.o.db.shop.findMany({
      where: {
        pausedReason: null,
        uninstalledAt: null,
        OR: [{ sendNotBefore: null }, { sendNotBefore: { lte: now } }],
        events: { some: { status: "pending", nextAttemptAt: { lte: now } } },
      },
      select: { id: true },
    });
    this.dueShops = shops.map((shop) => shop.id);
  }

  private canSend(shop: Shop): boolean {
    if (shop.uninstalledAt || shop.pausedReason || !shop.pixelId || !shop.tokenCiphertext) return false;
    return !shop.sendNotBefore || shop.sendNotBefore.getTime() <= Date.now();
  }

  private async deliver(batch: ClaimedBatch & { shop: Shop }): Promise<void> {
    const { shop } = batch;
    let token: string;
    try {
      token = decryptToken(this.o.keyRing, { ciphertext: shop.tokenCiphertext!, keyId: shop.tokenKeyId! });
    } catch (err) {
      // The key that sealed this token is not configured: only the operator can fix it; keep the events.
      await this.pause(shop, "token_key", (err as Error).message);
      await markRetry(this.o.db, batch.rows.map((r) => r.id), batch.lease, { code: null, subcode: null, message: (err as Error).message, fbtraceId: null }, { nextAttemptAt: new Date(), ambiguous: false, countAttempt: false });
      return;
    }
    // Meta rejects a whole request for one event past its window: such rows are expired, never sent.
    const now = new Date();
    const rows: ClaimedBatch["rows"] = [];
    const stale: ClaimedBatch["rows"] = [];
    for (const row of batch.rows) (isInsideWindow(row, now) ? rows : stale).push(row);
    if (stale.length) {
      const err = { code: null, subcode: null, message: STALE_MESSAGE, fbtraceId: null };
      await markFinalError(this.o.db, stale.map((r) => r.id), batch.lease, "expired", err, now);
    }
    if (rows.length === 0) return;
    const testEventCode = activeTestEventCode(shop, parseSettings(shop.settings));
    await this.sendRows(batch, rows, shop, token, testEventCode);
  }

  private async sendRows(
    batch: ClaimedBatch & { shop: Shop },
    rows: ClaimedBatch["rows"],
    shop: Shop,
    token: string,
    testEventCode: string | null,
  ): Promise<void> {
    const db = this.o.db;
    const ids = rows.map((r) => r.id);
    const result = await sendEvents(this.o.graph(shop), shop.pixelId!, token, rows.map(eventForMeta), { testEventCode });
    if (result.ok) {
      await markSent(this.o.store, rows, batch.lease, { fbtraceId: result.fbtraceId, eventsReceived: result.eventsReceived });
      this.rateLimits.delete(shop.id);
      // For the admin's "last delivery": a write per batch would queue behind the next claims for nothing.
      const at = Date.now();
      if (at - (this.deliveryNotedAt.get(shop.id) ?? 0) >= DELIVERY_NOTE_MS) {
        this.deliveryNotedAt.set(shop.id, at);
        await db.shop.update({ where: { id: shop.id }, data: { lastDeliveryAt: new Date(at) } });
      }
      return;
    }

    const f = result.failure;
    const err = { code: f.code, subcode: f.subcode, message: f.message, fbtraceId: f.fbtraceId };
    switch (f.info.retry) {
      case "isolate":
      case "expire": {
        if (rows.length > 1) {
          // Meta rejects the whole request for one bad event: halve until the bad ones stand alone.
          const mid = Math.ceil(rows.length / 2);
          await this.sendRows(batch, rows.slice(0, mid), shop, token, testEventCode);
          await this.sendRows(batch, rows.slice(mid), shop, token, testEventCode);
          return;
        }
        await markFinalError(db, ids, batch.lease, f.info.retry === "expire" ? "expired" : "failed", err);
        return;
      }
      case "pause_shop":
        await this.pause(shop, f.info.kind, f.message, f);
        await markRetry(db, ids, batch.lease, err, { nextAttemptAt: new Date(), ambiguous: false, countAttempt: false });
        return;
      case "long_backoff": {
        const n = (this.rateLimits.get(shop.id) ?? 0) + 1;
        this.rateLimits.set(shop.id, n);
        const until = new Date(Date.now() + jitter(Math.min(this.o.rateLimitBaseMs * 2 ** (n - 1), 60 * 60_000)));
        await db.shop.update({ where: { id: shop.id }, data: { sendNotBefore: until } });
        await markRetry(db, ids, batch.lease, err, { nextAttemptAt: until, ambiguous: f.ambiguous, countAttempt: true });
        this.o.log(`[dispatcher] ${shop.domain}: rate limited by Meta (code ${f.code}), next try ${until.toISOString()}`);
        return;
      }
      default: {
        const attempts = Math.max(...rows.map((r) => r.attempts));
        if (f.info.kind === "unknown" && attempts >= this.o.maxUnknownAttempts) {
          await markFinalError(db, ids, batch.lease, "failed", err);
          return;
        }
        const delay = jitter(Math.min(this.o.retryBaseMs * 2 ** (attempts - 1), this.o.maxRetryMs));
        await markRetry(db, ids, batch.lease, err, { nextAttemptAt: new Date(Date.now() + delay), ambiguous: f.ambiguous, countAttempt: true });
        this.o.log(`[dispatcher] ${shop.domain}: ${f.info.title} (${f.httpStatus ?? f.info.kind}); retry in ${Math.round(delay / 1000)} s`);
      }
    }
  }

  private async pause(shop: Shop, reason: string, detail: string, failure?: GraphFailure): Promise<void> {
    await this.o.db.shop.update({
      where: { id: shop.id },
      data: { pausedReason: reason, pausedDetail: detail.slice(0, 500), pausedAt: new Date() },
    });
    this.o.log(`[dispatcher] ${shop.domain}: sending paused (${reason}); events are kept until the connection is fixed`);
    if (failure && this.o.onPause) await this.o.onPause(shop, failure);
  }
}

/** Full jitter between half and the whole delay, so many shops' retries do not synchronise. */
function jitter(ms: number): number {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}
