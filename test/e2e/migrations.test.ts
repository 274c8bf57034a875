import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDb } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { ROOT, runPrisma } from "../../scripts/db";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// The migration histories, through the real Prisma CLI (Wasm schema engine + prisma/migrateAdapter.ts), on an
// empty SQLite file and an empty PostgreSQL database (when TEST_POSTGRES_URL is set), plus the drift check.
//
// `npm run setup` is `db.ts generate` then `db.ts deploy`; the tests run the deploy step only: regenerating
// node_modules/.prisma/client-* here would rewrite the clients under the other test files running beside it.

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node --import tsx scripts/db.ts ...` in `cwd` with DATABASE_URL replaced (undefined: unset). */
function dbScript(
  args: string[],
  env: Record<string, string | undefined>,
  cwd = ROOT,
): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.DATABASE_URL;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/db.ts", ...args],
      {
        cwd,
        env: childEnv,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const pgUrl = process.env.TEST_POSTGRES_URL;
const toolingEnv = { MIGRATION_POSTGRES_URL: pgUrl, DATABASE_URL: undefined };
const checkArgs = pgUrl ? ["check"] : ["check", "--skip-postgres"];

describe.each(databaseKinds())("migrations on %s", (kind) => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const d of databases) await d.drop();
  });

  let deployed: TestDatabase;

  it("`db.ts deploy` (npm run setup) applies the history to an empty database", async () => {
    deployed = await createTestDatabase(kind, { migrate: "none" });
    databases.push(deployed);

    const run = await dbScript(["deploy"], { DATABASE_URL: deployed.url });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/All migrations have been successfully applied/);
    expect(run.stdout).toMatch(/_init\//);
    // Prisma's warning that the schema's `url` goes unused beside the driver adapter is not shown (scripts/db.ts).
    expect(run.stdout).toMatch(/using driver adapter/);
    expect(run.stdout + run.stderr).not.toMatch(/WARNING/);

    const status = await runPrisma(["migrate", "status"], deployed.url);
    expect(status.code, status.stderr + status.stdout).toBe(0);
    expect(status.stdout).toMatch(/Database schema is up to date/);

    const again = await dbScript(["deploy"], { DATABASE_URL: deployed.url });
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toMatch(/No pending migrations to apply/);
  });

  it("the app's client writes and reads a Shop and an OutboxEvent", async () => {
    const { db, provider } = createDb(classifyDatabaseUrl(deployed.url));
    try {
      expect(provider).toBe(kind);
      const shop = await db.shop.create({
        data: {
          domain: `migrations-${kind}.myshopify.com`,
          settings: { purchaseTrigger: "paid", sources: { pos: true } },
          ingestKey: `ik_${kind}_${Date.now()}`,
        },
      });
      const eventTime = new Date("2026-01-02T03:04:05.678Z");
      await db.outboxEvent.create({
        data: {
          shopId: shop.id,
          eventName: "Purchase",
          eventId: "order_6100000000000001",
          source: "webhook",
          status: "pending",
          actionSource: "website",
          eventTime,
          payload: {
            event_name: "Purchase",
            custom_data: {
              value: 12.5,
              currency: "EUR",
              order_id: "9007199254740993",
            },
          },
          orderId: "9007199254740993",
        },
      });
      await db.session.create({
        data: {
          id: `offline_${shop.domain}`,
          shop: shop.domain,
          state: "s",
          accessToken: "t",
          userId: 9007199254740993n,
        },
      });

      const row = await db.outboxEvent.findUniqueOrThrow({
        where: {
          shopId_eventName_eventId_lane: {
            lane: "",
            shopId: shop.id,
            eventName: "Purchase",
            eventId: "order_6100000000000001",
          },
        },
        include: { shop: true },
      });
      expect(row.shop.domain).toBe(shop.domain);
      expect(row.eventTime.toISOString()).toBe(eventTime.toISOString());
      expect(row.payload).toEqual({
        event_name: "Purchase",
        custom_data: {
          value: 12.5,
          currency: "EUR",
          order_id: "9007199254740993",
        },
      });
      expect(row.attempts).toBe(0);
      expect(row.nextAttemptAt).toBeInstanceOf(Date);
      expect(
        (await db.session.findFirstOrThrow({ where: { shop: shop.domain } }))
          .userId,
      ).toBe(9007199254740993n);

      // The (shop, event_name, event_id) key holds.
      await expect(
        db.outboxEvent.create({
          data: {
            shopId: shop.id,
            eventName: "Purchase",
            eventId: "order_6100000000000001",
            source: "browser",
            status: "pending",
            actionSource: "website",
            eventTime,
            payload: {},
          },
        }),
      ).rejects.toMatchObject({ code: "P2002" });

      // onDelete: Cascade works (foreign keys are enforced).
      await db.shop.delete({ where: { id: shop.id } });
      expect(await db.outboxEvent.count({ where: { shopId: shop.id } })).toBe(
        0,
      );
    } finally {
      await db.$disconnect();
    }
  });

  it("the fast test helper's database is one Prisma sees as fully migrated", async () => {
    const fast = await createTestDatabase(kind);
    databases.push(fast);
    const status = await runPrisma(["migrate", "status"], fast.url);
    expect(status.code, status.stderr + status.stdout).toBe(0);
    expect(status.stdout).toMatch(/Database schema is up to date/);
    const deploy = await runPrisma(["migrate", "deploy"], fast.url);
    expect(deploy.code, deploy.stderr + deploy.stdout).toBe(0);
    expect(deploy.stdout).toMatch(/No pending migrations to apply/);

    const { db } = createDb(classifyDatabaseUrl(fast.url));
    try {
      const shop = await db.shop.create({
        data: {
          domain: "fast.myshopify.com",
          settings: {},
          ingestKey: "ik_fast",
        },
      });
      expect(
        await db.shop.findUnique({ where: { ingestKey: "ik_fast" } }),
      ).toMatchObject({ id: shop.id });
    } finally {
      await db.$disconnect();
    }
  });
});

describe("schema tooling (scripts/db.ts)", () => {
  it("`db.ts check` passes on the repository", async () => {
    const run = await dbScript(checkArgs, toolingEnv);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      /db check: prisma\/postgresql\/schema.prisma is current/,
    );
  });

  describe("on a copy of the project with a changed datamodel", () => {
    let dir: string;
    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("`check` fails and `sync <name>` writes the migrations that fix it", async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "capi-db-tooling-"));
      for (const rel of [
        "package.json",
        "prisma.config.ts",
        "app/dbUrl.ts",
        "scripts/db.ts",
        "prisma",
      ]) {
        fs.cpSync(path.join(ROOT, rel), path.join(dir, rel), {
          recursive: true,
        });
      }
      fs.symlinkSync(
        path.join(ROOT, "node_modules"),
        path.join(dir, "node_modules"),
        "dir",
      );
      fs.appendFileSync(
        path.join(dir, "prisma/schema.prisma"),
        '\nmodel DriftProbe {\n  id    String @id\n  label String @default("a; b")\n}\n',
      );

      const failed = await dbScript(checkArgs, toolingEnv, dir);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /prisma\/postgresql\/schema.prisma is stale/,
      );
      expect(failed.stderr).toMatch(
        /sqlite migration history .* does not produce the datamodel/,
      );
      expect(failed.stderr).toMatch(/CREATE TABLE "DriftProbe"/);
      if (!pgUrl) return; // sync needs PostgreSQL for the PostgreSQL history's shadow database

      const noName = await dbScript(["sync", "--no-generate"], toolingEnv, dir);
      expect(noName.code).toBe(1);
      expect(noName.stderr).toMatch(/give the new migration a name/);

      const synced = await dbScript(
        ["sync", "drift probe", "--no-generate"],
        toolingEnv,
        dir,
      );
      expect(synced.code, synced.stderr + synced.stdout).toBe(0);
      for (const history of [
        "prisma/migrations",
        "prisma/postgresql/migrations",
      ]) {
        const added = fs
          .readdirSync(path.join(dir, history))
          .filter((n) => n.endsWith("_drift_probe"));
        expect(added, history).toHaveLength(1);
        const sql = fs.readFileSync(
          path.join(dir, history, added[0], "migration.sql"),
          "utf8",
        );
        expect(sql).toMatch(/CREATE TABLE "DriftProbe"/);
        expect(sql).toContain("'a; b'");
      }
      expect(
        fs.readFileSync(
          path.join(dir, "prisma/postgresql/schema.prisma"),
          "utf8",
        ),
      ).toMatch(/model DriftProbe/);

      const passed = await dbScript(checkArgs, toolingEnv, dir);
      expect(passed.code, passed.stderr + passed.stdout).toBe(0);

      // The new PostgreSQL migration (a quoted `;` in a default) deploys through the CLI on a fresh database.
      const fresh = await createTestDatabase("postgresql", { migrate: "none" });
      try {
        const deploy = await dbScript(
          ["deploy"],
          { DATABASE_URL: fresh.url },
          dir,
        );
        expect(deploy.code, deploy.stderr + deploy.stdout).toBe(0);
        expect(deploy.stdout).toMatch(/_drift_probe\//);
      } finally {
        await fresh.drop();
      }
    });
  });
});
