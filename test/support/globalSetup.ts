import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";

// Every end-to-end suite talks to the production build: build it once per test run, into a directory of this run's
// own (test/support/app.ts reads TEST_BUILD_DIR), so that concurrent runs cannot swap a build under a live server.
// SKIP_BUILD=1 reuses ./build (CI builds it just before).
export default function setup() {
  const root = path.resolve(import.meta.dirname, "../..");
  if (process.env.SKIP_BUILD === "1") {
    process.env.TEST_BUILD_DIR = path.join(root, "build");
    return;
  }
  const dir = mkdtempSync(path.join(root, ".cache-test-build-"));
  process.env.TEST_BUILD_DIR = dir;
  execFileSync(
    process.execPath,
    [path.join(root, "node_modules/@remix-run/dev/dist/cli.js"), "vite:build"],
    {
      cwd: root,
      env: { ...process.env, REMIX_BUILD_DIR: dir },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  return () => rmSync(dir, { recursive: true, force: true });
}
