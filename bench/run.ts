import { parseArgs } from "node:util";
import { benchDelivery } from "./delivery";
import { benchIngest } from "./ingest";
import { benchIntake } from "./intake";
import { benchLatency } from "./latency";
import { benchMapping } from "./mapping";
import { buildServer, machineLoad, progress } from "./lib";

// `npm run bench`: builds the production server once, then measures each figure of issue 3's benchmark (and the
// pixel endpoint, decisions 23) against it on 127.0.0.1 with SQLite and a fake Graph API answering in 20 ms.
// Prints one JSON line per figure on stdout: {"metric", "value", "unit", "target", "pass"} (+ "note"); progress goes
// to stderr. Loopback only; about two minutes. Exit code 0 when every section ran (a missed target is a figure with
// "pass": false, not an error), 1 when one could not run. `--only intake,delivery,…` runs some sections.

const SECTIONS: Record<string, () => Promise<void>> = {
  intake: () => benchIntake({ warmupMs: 2_000, durationMs: 10_000 }),
  delivery: benchDelivery,
  latency: benchLatency,
  mapping: benchMapping,
  ingest: () => benchIngest({ warmupMs: 2_000, durationMs: 10_000 }),
};

function sections(): string[] {
  try {
    const { values } = parseArgs({ options: { only: { type: "string" } }, strict: true });
    const only = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(SECTIONS);
    const unknown = only.filter((s) => !(s in SECTIONS));
    if (unknown.length) throw new Error(`unknown section(s): ${unknown.join(", ")}`);
    return only;
  } catch (err) {
    console.error(`${(err as Error).message}\nUsage: npm run bench [-- --only ${Object.keys(SECTIONS).join(",")}]`);
    process.exit(2);
  }
}

const only = sections();
const started = Date.now();
progress(`building the production server… (${machineLoad()})`);
const build = buildServer();
let failed = 0;
try {
  for (const name of only) {
    try {
      await SECTIONS[name]();
    } catch (err) {
      failed++;
      progress(`${name} could not run: ${(err as Error).stack ?? String(err)}`);
    }
  }
} finally {
  build.remove();
}
progress(`done in ${Math.round((Date.now() - started) / 1000)} s (${machineLoad()})`);
process.exit(failed ? 1 : 0);
