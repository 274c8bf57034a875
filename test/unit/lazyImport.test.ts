import { afterEach, describe, expect, it } from "vitest";

// Importing the app reads no setting and opens no database: the build, the ops CLI's usage and the tests import it
// freely. The production server and the worker read both as they start (test/e2e/cluster.test.ts).

describe("importing the app", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("reads the configuration and makes the database client on first use, not at import", async () => {
    Object.assign(process.env, {
      PURCHASE_HOLD_SECONDS: "soon",
      DATABASE_URL: "mysql://db.example/shop",
    });
    const runtime = await import("../../app/runtime.server");
    const { default: prisma } = await import("../../app/db.server");
    const { EncryptedSessionStorage } =
      await import("../../app/sessionStorage.server");
    // Shopify's configuration (app/shopify.server.ts) makes it at import: Shopify's Prisma storage queries its table
    // as it is made.
    new EncryptedSessionStorage(prisma, runtime.keyRing);
    expect(() => runtime.config()).toThrow(
      'PURCHASE_HOLD_SECONDS must be a whole number ≥ 0 (got "soon")',
    );
    expect(() => prisma.shop).toThrow(
      /^DATABASE_URL must start with file: \(SQLite\) or postgresql:\/\//,
    );
  });
});
