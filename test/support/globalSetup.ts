import { execFileSync } from "node:child_process";
import path from "node:path";

// Every end-to-end suite talks to the production build: build it once per test run.
export default function setup() {
  if (process.env.SKIP_BUILD === "1") return;
  const root = path.resolve(import.meta.dirname, "../..");
  execFileSync(process.execPath, [path.join(root, "node_modules/@remix-run/dev/dist/cli.js"), "vite:build"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
