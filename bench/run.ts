import { parseArgs } from "node:util";
import { benchAdmin } from "./admin";
import { benchDelivery } from "./delivery";
import { benchIngest } from "./ingest";
import { benchIntake } from "./intake";
import { benchLatency } from "./latency";
import { benchMapping } from "./mapping";
import { benchFairness } from "./fairness";
import { benchQuality } from "./quality";
import { benchRelease } from "./release";
import {
  benchDbs,
  buildServer,
  machineLoad,
  progress,
  setBenchDb,
  setBenchDestinations,
} from "./lib";
import { benchPixel } from "./pixel";

// `npm run bench`: builds the production server once, then measures each figure of issue 3's benchmark (and the
// pixel endpoint, decisions 23) against it on 127.0.0.1 with SQLite and a fake Graph API answering in 20 ms; with
// BENCH_POSTGRES_URL set, every section that uses a database runs again on PostgreSQL (a database of its own,
// created and dropped on that server). Prints one JSON line per figure on stdout: {"metric", "db", "value", "unit",
// "target", "pass"} (+ "note"); progress goes to stderr. Loopback only; a few minutes per database. Exit code 0
// when every section ran (a missed target is a figure with "pass": false, not an error), 1 when one could not run.
// `--only intake,delivery,…` runs some sections; `--destinations 2` gives every bench shop two Meta datasets, routed
// by the order's country (decisions 130; meant for intake and delivery), its figures named `…_2_destinations`.

const SECTIONS: Record<string, () => Promise<void>> = {
  intake: () => benchIntake({ warmupMs: 2_000, durationMs: 10_000 }),
  delivery: benchDelivery,
  latency: benchLatency,
  mapping: benchMapping,
  ingest: () => benchIngest({ warmupMs: 2_000, durationMs: 10_000 }),
  release: benchRelease,
  fairness: benchFairness,
  admin: benchAdmin,
  pixel: benchPixel,
  quality: benchQuality,
};
/** Sections that use no database: run once. */
const WITHOUT_DATABASE = new Set(["mapping"]);

function sections(): string[] {
  try {
    const { values } = parseArgs({
      options: {
        only: { type: "string" },
        destinations: { type: "string" },
      },
      strict: true,
    });
    const destinations = Number(values.destinations ?? "1");
    if (destinations !== 1 && destinations !== 2)
      throw new Error("--destinations must be 1 or 2");
    setBenchDestinations(destinations);
    const only = values.only
      ? values.only.split(",").map((s) => s.trim())
      : Object.keys(SECTIONS);
    const unknown = only.filter((s) => !(s in SECTIONS));
    if (unknown.length)
      throw new Error(`unknown section(s): ${unknown.join(", ")}`);
    return only;
  } catch (err) {
    console.error(
      `${(err as Error).message}\nUsage: npm run bench [-- --only ${Object.keys(SECTIONS).join(",")}] [--destinations 2]`,
    );
    process.exit(2);
  }
}

const only = sections();
const started = Date.now();
progress(`building the production server… (${machineLoad()})`);
const build = buildServer();
let failed = 0;
try {
  for (const db of benchDbs()) {
    setBenchDb(db);
    for (const name of only) {
      if (db !== "sqlite" && WITHOUT_DATABASE.has(name)) continue;
      progress(`${name} on ${db}`);
      try {
        await SECTIONS[name]();
      } catch (err) {
        failed++;
        progress(
          `${name} on ${db} could not run: ${(err as Error).stack ?? String(err)}`,
        );
      }
    }
  }
} finally {
  build.remove();
}
progress(
  `done in ${Math.round((Date.now() - started) / 1000)} s (${machineLoad()})`,
);
process.exit(failed ? 1 : 0);
