import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The stage rules of eslint.config.js (docs/architecture.md), run on sample imports as if written in the named files.
const eslint = new ESLint({ cwd: path.resolve(import.meta.dirname, "../..") });

async function restricted(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\n`, { filePath: file });
  return result.messages
    .filter((m) => m.ruleId === "no-restricted-imports")
    .map((m) => m.message);
}

describe("stage rules", () => {
  it("outside app/core, a stage is imported by its face only", async () => {
    expect(
      await restricted(
        "app/runtime.server.ts",
        'export { x } from "./core/outbox";',
      ),
    ).toEqual([]);
    expect(
      await restricted(
        "app/runtime.server.ts",
        'export { x } from "./core/db";',
      ),
    ).toEqual([]);
    expect(
      await restricted(
        "app/runtime.server.ts",
        'export { x } from "./core/outbox/sql";',
      ),
    ).toEqual([expect.stringContaining("Import the stage's face")]);
    expect(
      await restricted(
        "app/routes/app.tsx",
        'export type { X } from "~/core/shops/shopConfig";',
      ),
    ).toHaveLength(1);
    expect(
      await restricted(
        "ops/cli.ts",
        'export { x } from "../app/core/delivery/dispatcher";',
      ),
    ).toHaveLength(1);
    const pixel = "extensions/meta-capi-pixel/src/index.ts";
    expect(
      await restricted(
        pixel,
        'export { x } from "../../../app/core/wire/eventId";',
      ),
    ).toHaveLength(1);
  });

  it("tests may reach inside a stage", async () => {
    expect(
      await restricted(
        "test/unit/x.test.ts",
        'export { x } from "../../app/core/outbox/sql";',
      ),
    ).toEqual([]);
  });

  it("inside app/core, another stage is imported by its face; a stage's own files directly", async () => {
    const file = "app/core/intake/orderIntake.ts";
    expect(
      await restricted(
        file,
        'export { x } from "../outbox";\nexport { y } from "./normalize";',
      ),
    ).toEqual([]);
    expect(await restricted(file, 'export { x } from "../db";')).toEqual([]);
    expect(
      await restricted(file, 'export { x } from "../outbox/sql";'),
    ).toEqual([expect.stringContaining("Import another stage's face")]);
  });

  it("app/core imports nothing from Remix, React or Shopify's libraries", async () => {
    const file = "app/core/shops/shopConfig.ts";
    for (const from of [
      "@remix-run/node",
      "react",
      "@shopify/shopify-app-remix/server",
    ]) {
      expect(await restricted(file, `export { x } from "${from}";`)).toEqual([
        expect.stringContaining(
          "nothing from Remix, React or Shopify's libraries",
        ),
      ]);
    }
    expect(await restricted(file, 'export { x } from "zod";')).toEqual([]);
  });

  it("app/core/wire imports only its own files", async () => {
    const file = "app/core/wire/eventId.ts";
    expect(await restricted(file, 'export { x } from "./cookies";')).toEqual(
      [],
    );
    for (const from of ["zod", "node:crypto", "../outbox", "../db"]) {
      expect(await restricted(file, `export { x } from "${from}";`)).toEqual([
        expect.stringContaining("app/core/wire is bundled into the web pixel"),
      ]);
    }
  });
});
