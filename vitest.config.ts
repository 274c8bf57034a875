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
    // A fresh worker for each file, chosen (Vitest's default; setting it silences Vitest's hint that sharing workers
    // would be faster): files set process.env, and the app reads its configuration and makes its database client
    // once per process.
    isolate: true,
    // The app's log lines from tests that pass (failure paths exercised on purpose) are noise; a failing test's show.
    silent: "passed-only",
  },
});
