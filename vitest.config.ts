import { defineConfig } from "vitest/config";

// Unit tests run in parallel; end-to-end suites each start a production server and a database of their own.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    globalSetup: ["test/support/globalSetup.ts"],
    fileParallelism: true,
    maxWorkers: 2,
  },
});
