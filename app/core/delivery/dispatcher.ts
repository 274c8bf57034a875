import { randomUUID } from "node:crypto";
import type { Db, Shop } from "../db";
import {
  sendEvents,
  UNKNOWN_ERROR_MAX_RETRIES,
  type GraphConfig,
  type GraphFailure,
} from "../meta";
import {
  backOffTarget,
  decryptToken,
  describeTarget,
  type KeyRing,
  noteTargetDelivery,
  noteTestEventSent,
  pauseTarget,
  resumeReadableTokens,
  DESTINATION_ORDER,
  routes,
  targetsOf,
  type SendTarget,
  TOKEN_KEY_PAUSE,
} from "../shops";
import { parseSettings } from "../reference";
import { route } from "../wire";
import { routeFacts } from "./routeFacts";
import { activeTestEventCode, type ClaimedBatch, type Outbox } from "../outbox";
import { sendBatch, type DeliveryPolicy, type Step } from "./sendBatch";

// Sends the outbox to Meta: per shop and dataset (decisions 130), batches of up to 1,000 events (in requests of at most 4 MB), several requests
// in flight, retries with backoff, a pause for errors only the merchant can fix, and bisection when Meta rejects a
// batch for one event. This file claims and writes; what becomes of each row of a batch is decided in sendBatch.ts.

export interface DispatcherOptions extends Partial<DeliveryPolicy> {
  db: Db;
  /** Claims, leases and marks, and the outbox's sweeps. */
  outbox: Outbox;
  /** The hold timer (intake's releaseDueHeld), run among the housekeeping: delivery does not import intake. */
  releaseHeld: (now: Date) => Promise<number>;
  keyRing: KeyRing;
  /** The Graph API of a dataset (its version override). */
  graph: (target: Pick<Shop, "graphApiVersion">) => GraphConfig;
  batchSize?: number;
  concurrency?: number;
  pollMs?: number;
  /** One of the shop's datasets was paused for `failure` (the pause notice, decisions 20, 162). */
  onPause?: (
    shop: Shop,
    target: SendTarget,
    failure: GraphFailure,
  ) => void | Promise<void>;
  /** Hears of new work made by other processes (PostgreSQL LISTEN, decisions 88); returns its stop. */
  listenForWork?: (wake: () => void) => () => Promise<void>;
  log?: (line: string) => void;
}

/** A claimed batch, with the shop and the dataset it goes to. */
type Claimed = ClaimedBatch & { shop: Shop; target: SendTarget };

const HOUSEKEEPING_MS = 1_000;
const HEARTBEAT_MS = 5_000;
/** The sweep of rows past Meta's window reads every waiting row; claimed rows are checked at each claim anyway. */
const EXPIRE_SWEEP_MS = 5 * 60_000;
const PRUNE_MS = 10 * 60_000;
const DELIVERY_NOTE_MS = 2_000;

export class Dispatcher {
  readonly id = `dispatcher-${randomUUID().slice(0, 8)}`;
  private readonly o: Required<
    Omit<DispatcherOptions, "onPause" | "listenForWork">
  > &
    Pick<DispatcherOptions, "onPause" | "listenForWork">;
  private stopListening: (() => Promise<void>) | null = null;
  private stopping = false;
  private workers: Promise<void>[] = [];
  private wakers: (() => void)[] = [];
  private dueShops: string[] = [];
  /** Batches in flight per shop id. */
  private sending = new Map<string, number>();
  private housekeepingAt = 0;
  private heartbeatAt = 0;
  private pruneAt = 0;
  private expireSweepAt = 0;
  private tokenKeysChecked = false;
  private deliveryNotedAt = new Map<string, number>();
  private housekeeping: Promise<void> | null = null;
  private leaseSeq = 0;
  private rateLimits = new Map<string, number>();
  /** Per shop, the dataset whose turn it is to be claimed first. */
  private turns = new Map<string, number>();
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
    this.stopListening = this.o.listenForWork?.(() => this.wake()) ?? null;
    this.workers.push(this.keepHouse());
    for (let i = 0; i < this.o.concurrency; i++) this.workers.push(this.work());
    this.o.log(
      `[dispatcher] ${this.id} started (${this.o.concurrency} workers)`,
    );
  }

  /** New work arrived (an intake in this process): skip the poll wait. */
  wake(): void {
    this.housekeepingAt = 0;
    this.wakeSenders();
  }

  private wakeSenders(): void {
    this.dueShops.length = 0;
    for (const w of this.wakers.splice(0)) w();
  }

  /** Stops claiming, lets in-flight requests finish within `graceMs`, then gives back every lease it holds. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.stopListening?.();
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.workers),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    const released = await this.o.outbox.releaseLeases(
      `${this.id}:`,
      new Date(),
    );
    await this.o.db.dispatcherHeartbeat
      .deleteMany({ where: { id: this.id } })
      .catch(() => undefined);
    this.o.log(
      `[dispatcher] ${this.id} stopped${released ? `, ${released} leased events returned to the queue` : ""}`,
    );
  }

  /** One pass without the loop: housekeeping, then every due batch. For tests and the ops CLI. */
  async drain(): Promise<void> {
    this.housekeepingAt = 0;
    await this.runHousekeeping();
    for (;;) {
      const batches = await this.claimNext();
      if (!batches) return;
      await this.send(batches);
    }
  }

  // Housekeeping (the hold timer's releases among it) runs beside the send loops, which never wait for it: a burst
  // of releases used to stop every send loop for as long as it took (decisions 86).
  private async keepHouse(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.runHousekeeping();
      } catch (err) {
        this.o.log(
          `[dispatcher] housekeeping error: ${(err as Error).message}`,
        );
      }
      await this.idle(HOUSEKEEPING_MS);
    }
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      try {
        const batches = await this.claimNext();
        if (batches) await this.send(batches);
        else await this.idle();
      } catch (err) {
        this.o.log(`[dispatcher] error: ${(err as Error).message}`);
        await this.idle();
      }
    }
  }

  private idle(ms = this.o.pollMs): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
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
      if (!this.tokenKeysChecked) {
        // This process's keys may open tokens that a process without them paused (decisions 45).
        for (const domain of await resumeReadableTokens(db, this.o.keyRing)) {
          this.o.log(
            `[dispatcher] ${domain}: its access token can be read again; sending resumed`,
          );
        }
        this.tokenKeysChecked = true;
      }
      // Rows leased by a dispatcher that died go back to pending; they may have reached Meta, so the resend is counted.
      await this.o.outbox.reclaimExpiredLeases(at);
      // Released rows are due at once: the send loops look again instead of waiting for their poll.
      if (await this.o.releaseHeld(at)) this.wakeSenders();
      if (now - this.expireSweepAt >= EXPIRE_SWEEP_MS) {
        this.expireSweepAt = now;
        await this.o.outbox.expireStale(at);
      }
      if (now - this.pruneAt >= PRUNE_MS) {
        this.pruneAt = now;
        await this.o.outbox.prune(at);
      }
    })().finally(() => {
      this.housekeeping = null;
    });
    return this.housekeeping;
  }

  /**
   * The next batch of a due shop with a send slot to spare, shops taken in turn. A shop holds at most its share of
   * the send slots (all but one), so a shop whose Graph answers are slow never holds them all: another shop's
   * events go through the slot left (decisions 88).
   */
  private async claimNext(): Promise<Claimed[] | null> {
    for (let refreshed = false; ;) {
      const at = this.dueShops.findIndex(
        (id) => (this.sending.get(id) ?? 0) < this.shopShare(),
      );
      if (at < 0) {
        if (refreshed) return null;
        await this.refreshDueShops();
        refreshed = true;
        continue;
      }
      const [shopId] = this.dueShops.splice(at, 1);
      // The slot is taken before the first await: side-by-side send loops must not both find it free.
      this.takeSlot(shopId, 1);
      const batches = await this.claimFrom(shopId).catch((err: unknown) => {
        this.takeSlot(shopId, -1);
        throw err;
      });
      if (batches.length > 0) return batches;
      this.takeSlot(shopId, -1);
    }
  }

  /**
   * The next batches of one shop: one per dataset that may send, at most. A shop that routes claims each dataset's
   * routed rows, then routes a page and claims by the same write what its datasets still have room for (decisions
   * 184): a routed row is written once before it is sent, not routed and then claimed.
   */
  private async claimFrom(shopId: string): Promise<Claimed[]> {
    const row = await this.o.db.shop.findUnique({
      where: { id: shopId },
      include: { destinations: { orderBy: [...DESTINATION_ORDER] } },
    });
    if (!row || row.uninstalledAt || !row.pixelId) return [];
    const { destinations, ...shop } = row;
    const targets = targetsOf(shop, destinations);
    const routed = routes(targets);
    const now = new Date();
    const claimOne = (target: SendTarget | null, limit: number) =>
      this.o.outbox.claim(shopId, this.newLease(), {
        limit,
        leaseMs: this.o.leaseMs,
        now,
        destinationId: target?.id ?? null,
      });
    const batches: Claimed[] = [];
    // The shop's datasets in turn, from the one after the last served: a busy one goes out after the others.
    const turn = (this.turns.get(shopId) ?? 0) % targets.length;
    this.turns.set(shopId, turn + 1);
    const inTurn = [...targets.slice(turn), ...targets.slice(0, turn)];
    if (!routed) {
      const target = inTurn[0];
      if (this.canSend(target))
        batches.push({
          ...(await claimOne(null, this.o.batchSize)),
          shop,
          target,
        });
    } else {
      const room = new Map<string, { lease: string; rows: number }>();
      for (const target of inTurn) {
        if (!this.canSend(target)) continue;
        const batch = await claimOne(target, this.o.batchSize);
        batches.push({ ...batch, shop, target });
        if (batch.rows.length < this.o.batchSize)
          room.set(target.id, {
            lease: batch.lease,
            rows: this.o.batchSize - batch.rows.length,
          });
      }
      // Rows become pending in many places (intake, the hold timer, replay); they are routed here, a page per
      // statement (decisions 130), each taken by its dataset's lease while it has room. A batch's worth per dataset:
      // split between them, one page would make half-full requests.
      const { claimed } = await this.o.outbox.routePending(
        shopId,
        (row) => route(targets, routeFacts(row)).map((t) => t.id),
        now,
        this.o.batchSize * targets.length,
        { room, leaseMs: this.o.leaseMs },
      );
      for (const batch of batches)
        batch.rows.push(...(claimed.get(batch.lease) ?? []));
    }
    const sending = batches.filter((b) => b.rows.length > 0);
    // A full batch, or another dataset, suggests more is waiting: keep the shop in the rotation, behind the others.
    if (
      sending.some((b) => b.rows.length === this.o.batchSize) ||
      (sending.length > 0 && targets.length > 1)
    )
      this.dueShops.push(shopId);
    return sending;
  }

  private newLease(): string {
    return `${this.id}:${++this.leaseSeq}`;
  }

  private takeSlot(shopId: string, n: 1 | -1): void {
    const held = (this.sending.get(shopId) ?? 0) + n;
    if (held > 0) this.sending.set(shopId, held);
    else this.sending.delete(shopId);
  }

  /** The send slots one shop may hold at once. */
  private shopShare(): number {
    return Math.max(1, this.o.concurrency - 1);
  }

  /**
   * Sends one claim's batches (one per dataset) one after another, then gives its shop's send slot back. A batch
   * that waited past half its lease has it renewed first, and sends only the rows still its own (decisions 43).
   */
  private async send(batches: Claimed[]): Promise<void> {
    const claimedAt = Date.now();
    let next = 0;
    // Whether batches[next] went to Meta: a failure before (its lease renewal) leaves it unsent too.
    let handedOver = false;
    try {
      for (; next < batches.length; next++) {
        const batch = batches[next];
        handedOver = false;
        if (Date.now() - claimedAt > this.o.leaseMs / 2) {
          const now = new Date();
          const held = new Set(
            await this.o.outbox.renewLease(
              batch.rows.map((r) => r.id),
              batch.lease,
              new Date(now.getTime() + this.o.leaseMs),
              now,
            ),
          );
          batch.rows = batch.rows.filter((r) => held.has(r.id));
          if (batch.rows.length === 0) continue;
        }
        handedOver = true;
        await this.deliver(batch);
      }
    } catch (err) {
      // The batches never sent (those after the one that failed, and that one if its lease renewal failed): back to
      // pending at once, their attempt not counted (a lease left to run out would count a resend that never happened).
      for (const batch of batches.slice(handedOver ? next + 1 : next))
        await this.o.outbox
          .markRetry(
            batch.rows.map((r) => r.id),
            batch.lease,
            {
              code: null,
              subcode: null,
              message: `not sent: ${(err as Error).message}`,
              fbtraceId: null,
            },
            {
              nextAttemptAt: new Date(),
              ambiguous: false,
              countAttempt: false,
            },
          )
          .catch(() => undefined);
      throw err;
    } finally {
      this.takeSlot(batches[0].shopId, -1);
    }
  }

  private async refreshDueShops(): Promise<void> {
    // Paused, uninstalled and rate-limited shops keep their rows pending; leave them out here, not per claim. One
    // index probe per shop that may send (decisions 87): a group-by, or Prisma's `some`, read the whole backlog
    // (70–200 ms for 100,000 rows), and ran whenever the list emptied, a paused backlog included.
    this.dueShops = await this.o.outbox.dueShops(new Date());
  }

  private canSend(target: SendTarget): boolean {
    if (target.pausedReason || !target.pixelId || !target.tokenCiphertext)
      return false;
    return (
      !target.sendNotBefore || target.sendNotBefore.getTime() <= Date.now()
    );
  }

  private async deliver(batch: Claimed): Promise<void> {
    const { shop, target } = batch;
    let token: string;
    try {
      token = decryptToken(this.o.keyRing, {
        ciphertext: target.tokenCiphertext!,
        keyId: target.tokenKeyId!,
      });
    } catch (err) {
      // The key that sealed this token is not configured: only the operator can fix it; keep the events.
      await this.pause(batch, TOKEN_KEY_PAUSE, (err as Error).message);
      await this.o.outbox.markRetry(
        batch.rows.map((r) => r.id),
        batch.lease,
        {
          code: null,
          subcode: null,
          message: (err as Error).message,
          fbtraceId: null,
        },
        { nextAttemptAt: new Date(), ambiguous: false, countAttempt: false },
      );
      return;
    }
    const testEventCode = activeTestEventCode(
      target,
      parseSettings(shop.settings),
    );
    await sendBatch(
      batch,
      {
        send: (events) =>
          sendEvents(this.o.graph(target), target.pixelId!, token, events, {
            testEventCode,
          }),
        renewLease: (ids, until) =>
          this.o.outbox.renewLease(ids, batch.lease, until, new Date()),
        rateLimits: this.rateLimits,
        apply: (step) => this.apply(batch, step),
      },
      this.o,
    );
  }

  /** Writes what sendBatch decided to the outbox and the dataset's row. */
  private async apply(batch: Claimed, step: Step): Promise<void> {
    const { shop, target, lease } = batch;
    switch (step.kind) {
      case "sent": {
        await this.o.outbox.markSent(step.rows, lease, {
          fbtraceId: step.fbtraceId,
          eventsReceived: step.eventsReceived,
        });
        // For the admin's "last delivery": a write per batch would queue behind the next claims for nothing.
        const at = Date.now();
        if (
          at - (this.deliveryNotedAt.get(target.id) ?? 0) >=
          DELIVERY_NOTE_MS
        ) {
          this.deliveryNotedAt.set(target.id, at);
          await noteTargetDelivery(this.o.db, target, new Date(at));
        }
        if (
          target.own &&
          !shop.testEventSentAt &&
          activeTestEventCode(shop, parseSettings(shop.settings))
        )
          await noteTestEventSent(this.o.db, shop.id, new Date());
        break;
      }
      case "failed":
      case "expired":
        await this.o.outbox.markFinal(
          step.rows.map((r) => r.id),
          lease,
          step.kind,
          step.err,
        );
        break;
      case "retry":
        await this.o.outbox.markRetry(
          step.rows.map((r) => r.id),
          lease,
          step.err,
          {
            nextAttemptAt: step.at,
            ambiguous: step.ambiguous,
            countAttempt: step.countAttempt,
          },
        );
        break;
      case "pause":
        await this.pause(
          batch,
          step.failure.info.kind,
          step.failure.message,
          step.failure,
        );
        break;
      case "backoff":
        await backOffTarget(this.o.db, target, step.until);
        break;
    }
    if (step.note)
      this.o.log(
        `[dispatcher] ${describeTarget(batch.shop, batch.target)}: ${step.note}`,
      );
  }

  /** Pauses the batch's dataset only: the shop's other datasets keep sending (decisions 130). */
  private async pause(
    { shop, target }: Claimed,
    reason: string,
    detail: string,
    failure?: GraphFailure,
  ): Promise<void> {
    await pauseTarget(this.o.db, target, reason, detail, new Date());
    this.o.log(
      `[dispatcher] ${describeTarget(shop, target)}: sending paused (${reason}); events are kept until the connection is fixed`,
    );
    if (failure && this.o.onPause) await this.o.onPause(shop, target, failure);
  }
}
