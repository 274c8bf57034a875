import pg from "pg";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import type { SqlStore } from "../../app/core/outbox/sql";
import { createTestDatabase, type TestDatabase } from "../support/database";

// How the outbox's writes take their row locks on PostgreSQL, against a second connection that holds rows the way
// another dispatcher would. A claim never waits for a row someone holds (it takes the others); every write of
// several rows locks them in id order, so two writers never wait for each other in a circle; and a write that
// PostgreSQL still picks as a deadlock's victim is run again, not dropped: a lost sent mark left a batch Meta had
// accepted `sending` until its lease ran out, and it went to Meta a second time.

const OTHER_WAITS_MS = 10_000;

describe.skipIf(!process.env.TEST_POSTGRES_URL)(
  "outbox row locks on postgresql",
  () => {
    let database: TestDatabase;
    let handle: DbHandle;
    let store: SqlStore;
    let shopId: string;
    /** Another session, as another dispatcher (or anything else) holding rows in a transaction. */
    let other: pg.Client;
    let otherPid: number;
    let seq = 0;

    beforeAll(async () => {
      database = await createTestDatabase("postgresql");
      handle = createDb(classifyDatabaseUrl(database.url));
      store = handle.sqlStore();
      other = new pg.Client({ connectionString: database.url });
      await other.connect();
      otherPid = (await other.query("SELECT pg_backend_pid() AS pid")).rows[0]
        .pid;
      // When the other session is part of a deadlock, the detector of the app's session runs first (1 s, the
      // default) and picks the app's statement as the victim: what must then be retried.
      await other.query(`SET deadlock_timeout = '${OTHER_WAITS_MS}ms'`);
    });
    beforeEach(async () => {
      // A shop per test: a claim takes every due row of its shop.
      shopId = (
        await handle.db.shop.create({
          data: {
            domain: `locks-${++seq}.myshopify.com`,
            ingestKey: `k${seq}`,
            settings: {},
          },
        })
      ).id;
    });
    afterEach(async () => {
      await other.query("ROLLBACK");
    });
    afterAll(async () => {
      await other?.end();
      await handle?.db.$disconnect();
      await database?.drop();
    });

    /** Outbox rows with the given ids, inserted in that order (so their physical order is not their id order). */
    async function rows(
      ids: string[],
      data: Record<string, unknown> = {},
    ): Promise<string[]> {
      const now = new Date();
      for (const id of ids) {
        await handle.db.outboxEvent.create({
          data: {
            id,
            shopId,
            eventName: "Purchase",
            eventId: `${id}_${++seq}`,
            source: "webhook",
            status: "pending",
            actionSource: "website",
            eventTime: now,
            payload: { event_name: "Purchase", event_id: id, user_data: {} },
            nextAttemptAt: new Date(now.getTime() - 1000),
            ...data,
          },
        });
      }
      return ids;
    }

    const lock = (id: string) =>
      other.query(`SELECT 1 FROM "OutboxEvent" WHERE "id" = $1 FOR UPDATE`, [
        id,
      ]);

    /** Resolves once an app session waits for a row lock. */
    async function appWaits(): Promise<void> {
      const probe = new pg.Client({ connectionString: database.url });
      await probe.connect();
      try {
        for (
          const deadline = Date.now() + 5_000;
          Date.now() < deadline;
          await new Promise((r) => setTimeout(r, 20))
        ) {
          const waiting = `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`;
          if ((await probe.query(waiting, [otherPid])).rowCount) return;
        }
        throw new Error("no app session waits for a lock");
      } finally {
        await probe.end();
      }
    }

    /** The outcome of a write started now and awaited later (a rejection must not go unhandled meanwhile). */
    const settled = <T>(promise: Promise<T>) =>
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      );

    const within = <T>(ms: number, what: string, promise: Promise<T>) =>
      Promise.race([
        promise,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`${what} took more than ${ms} ms`)),
            ms,
          ),
        ),
      ]);

    it("a claim takes the due rows nobody holds, without waiting for one another transaction holds", async () => {
      const [a, b, c] = await rows(["claim-a", "claim-b", "claim-c"]);
      await other.query("BEGIN");
      await lock(b);
      const now = new Date();
      const claimed = await within(
        2_000,
        "the claim",
        store.claim(shopId, "lease-claim", {
          limit: 10,
          leaseUntil: new Date(now.getTime() + 60_000),
          now,
          destinationId: null,
        }),
      );
      expect(claimed.map((r) => r.id).sort()).toEqual([a, c]);
      await other.query("ROLLBACK");
      expect(
        (await handle.db.outboxEvent.findUniqueOrThrow({ where: { id: b } }))
          .status,
      ).toBe("pending");
    });

    it("a sent mark that loses a deadlock is run again: the batch ends sent, once", async () => {
      const [a, b] = await rows(["sent-a", "sent-b"]);
      const now = new Date();
      const leased = await store.claim(shopId, "lease-sent", {
        limit: 10,
        leaseUntil: new Date(now.getTime() + 60_000),
        now,
        destinationId: null,
      });
      expect(leased.map((r) => r.id).sort()).toEqual([a, b]);
      // The other session holds b; the sent mark takes a and waits for b; then the other session wants a: a circle.
      await other.query("BEGIN");
      await lock(b);
      const sent = settled(
        store.markSent([a, b], "lease-sent", {
          sentAt: now,
          fbtraceId: "T",
          metaResponse: { events_received: 2 },
          sentWithIp: false,
          sentWithUserAgent: false,
        }),
      );
      await appWaits();
      await lock(a);
      await other.query("COMMIT");
      expect(await sent).toEqual({ value: 2 });
      expect(
        await handle.db.outboxEvent.count({
          where: { id: { in: [a, b] }, status: "sent", leaseOwner: null },
        }),
      ).toBe(2);
    });

    it("a retry mark of several rows locks them in id order: a transaction taking the same rows in that order never waits for it", async () => {
      // Physically "retry-b" comes first: a write that took rows in the order it found them would lock it first.
      const [b, a] = await rows(["retry-b", "retry-a"]);
      const now = new Date();
      await store.claim(shopId, "lease-retry", {
        limit: 10,
        leaseUntil: new Date(now.getTime() + 60_000),
        now,
        destinationId: null,
      });
      await other.query("BEGIN");
      await lock(a);
      const err = {
        code: 2,
        subcode: null,
        message: "Service temporarily unavailable",
        fbtraceId: null,
      };
      const retried = settled(
        handle.outbox().markRetry([b, a], "lease-retry", err, {
          nextAttemptAt: now,
          ambiguous: true,
          countAttempt: true,
        }),
      );
      await appWaits();
      await within(500, "the other session's lock of the second row", lock(b));
      await other.query("COMMIT");
      expect(await retried).toEqual({ value: undefined });
      expect(
        await handle.db.outboxEvent.count({
          where: {
            id: { in: [a, b] },
            status: "pending",
            leaseOwner: null,
            ambiguousSends: 1,
          },
        }),
      ).toBe(2);
    });

    it("the reclaim of expired leases locks in id order too", async () => {
      const past = new Date(Date.now() - 60_000);
      const [b, a] = await rows(["reclaim-b", "reclaim-a"], {
        status: "sending",
        leaseOwner: "lease-dead",
        leaseUntil: past,
        nextAttemptAt: past,
      });
      await other.query("BEGIN");
      await lock(a);
      const reclaimed = settled(store.reclaimExpiredLeases(new Date()));
      await appWaits();
      await within(500, "the other session's lock of the second row", lock(b));
      await other.query("COMMIT");
      expect(await reclaimed).toEqual({ value: 2 });
      expect(
        await handle.db.outboxEvent.count({
          where: { id: { in: [a, b] }, status: "pending", ambiguousSends: 1 },
        }),
      ).toBe(2);
    });

    it("a Prisma write of several rows that loses a deadlock is run again (replay)", async () => {
      const [a, b] = await rows(["replay-a", "replay-b"], {
        status: "failed",
        finalAt: new Date(),
      });
      await other.query("BEGIN");
      await lock(b);
      const replayed = settled(
        handle.outbox().replay({ shopId, statuses: ["failed"], ids: [a, b] }),
      );
      await appWaits();
      await lock(a);
      await other.query("COMMIT");
      expect(await replayed).toEqual({
        value: { requeued: 2, outsideWindow: 0 },
      });
    });
  },
);
