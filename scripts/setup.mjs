// npm run setup: generate both Prisma clients, then apply the migrations to the database in effect
// (DATABASE_URL; unset → SQLite at ./.data/dev.sqlite). Works offline on a clean clone after `npm install`.
// Plain .mjs so it runs before anything else; the work is in scripts/db.ts, run through tsx.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function run(args) {
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "scripts/db.ts", ...args],
    {
      cwd: root,
      stdio: "inherit",
      env: process.env,
    },
  );
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(
      `setup: \`npx tsx scripts/db.ts ${args.join(" ")}\` failed (exit ${result.status ?? result.signal})`,
    );
    process.exit(result.status || 1);
  }
}

const started = Date.now();
run(["generate"]);
run(["deploy"]);
console.log(`setup: done in ${Date.now() - started} ms`);
