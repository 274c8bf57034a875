import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { eventually } from "../support/app";

// SQLite in WAL mode writes new pages to the -wal file; only a checkpoint copies them into the database file. So the
// database file's size tells whether a checkpoint ran, and who ran it.

describe("background checkpoints on sqlite", () => {
  let database: TestDatabase;
  let handle: DbHandle;
  let filename: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    filename = (classifyDatabaseUrl(database.url) as { filename: string })
      .filename;
    handle = createDb(classifyDatabaseUrl(database.url));
  });

  afterAll(async () => {
    await handle?.db.$disconnect();
    await database?.drop();
  });

  // ~3,000 pages of 4 KB: three times SQLite's default threshold for a connection's own checkpoint.
  const writeMegabytes = async (tag: string) => {
    const shop = await handle.db.shop.create({
      data: { domain: `${tag}.myshopify.com`, ingestKey: tag, settings: {} },
    });
    for (let i = 0; i < 120; i++) {
      await handle.db.dataRequest.create({
        data: {
          shopId: shop.id,
          requestId: `${tag}-${i}`,
          report: { pad: "x".repeat(100_000) },
        },
      });
    }
  };

  it("leaves checkpoints to the thread: connections stop checkpointing, the thread copies the WAL in", async () => {
    const stop = handle.checkpointInBackground();
    await stop();
    const before = fs.statSync(filename).size;
    await writeMegabytes("a");
    // No thread running, and the connection's own checkpoint is only a backstop far above what was written.
    expect(fs.statSync(filename).size).toBe(before);
    expect(fs.statSync(`${filename}-wal`).size).toBeGreaterThan(10_000_000);

    const stopAgain = handle.checkpointInBackground();
    try {
      const grown = await eventually(
        () => fs.statSync(filename).size > before + 10_000_000,
        5_000,
        "a background checkpoint",
      );
      expect(grown).toBe(true);
    } finally {
      await stopAgain();
    }
  });
});
