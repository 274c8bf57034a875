import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import {
  connectShop,
  loadKeyRing,
  saveDestination,
  saveOwnRule,
} from "../app/core/shops";
import { graphConfigFromEnv } from "../app/core/meta";
import { makeOrder } from "../test/fixtures/order";
import { ROOT, startApp, TOKEN_KEY, type TestApp } from "../test/support/app";
import {
  startFakeGraph,
  type FakeGraph,
  type FakeGraphOptions,
} from "../test/support/fakeGraph";

// Shared pieces of `npm run bench`: the result line format (decisions 23), the database each section runs on, a
// closed-loop load generator, percentiles, the production build and the CPU and peak memory of the server and of
// PostgreSQL.

export const PIXEL = "987654321098765";
const TOKEN = "EAAGbenchTOKEN0123456789abcdefXYZ";

export type BenchDb = "sqlite" | "postgresql";
let currentDb: BenchDb = "sqlite";
/** The second dataset of `--destinations 2`: it takes the US orders, the shop's own dataset the Canadian ones. */
export const SECOND_PIXEL = "123456789012345";
let destinations = 1;

/** `--destinations 2` (decisions 130): every bench shop sends to two datasets, routed by the order's country. */
export function setBenchDestinations(n: number): void {
  destinations = n;
}

export function benchDestinations(): number {
  return destinations;
}

/**
 * The databases every section runs on: SQLite, then PostgreSQL when BENCH_POSTGRES_URL is set (a server where the
 * bench may create and drop its own database, capi_test_*, as the tests do with TEST_POSTGRES_URL).
 */
export function benchDbs(): BenchDb[] {
  const url = process.env.BENCH_POSTGRES_URL?.trim();
  if (!url) return ["sqlite"];
  process.env.TEST_POSTGRES_URL = url;
  return ["sqlite", "postgresql"];
}

/** The database of the section running now: startApp's `db`, and the "db" of every figure. */
export function benchDb(): BenchDb {
  return currentDb;
}

export function setBenchDb(db: BenchDb): void {
  currentDb = db;
}

interface Figure {
  metric: string;
  db: BenchDb;
  value: number;
  unit: string;
  /** e.g. ">= 500"; null for a figure reported for context only. */
  target: string | null;
  pass: boolean | null;
  /** How it was measured, when the figure alone could mislead. */
  note?: string;
}

/** One JSON line per figure on stdout; progress goes to stderr so stdout stays machine-readable. */
export function emit(
  metric: string,
  value: number,
  unit: string,
  target?: { atLeast?: number; atMost?: number },
  note?: string,
): void {
  // Figures with two datasets per shop are kept apart from the one-dataset figures they compare with.
  if (destinations > 1) metric = `${metric}_${destinations}_destinations`;
  const rounded =
    Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
  let figure: Figure;
  const db = currentDb;
  if (target?.atLeast !== undefined)
    figure = {
      metric,
      db,
      value: rounded,
      unit,
      target: `>= ${target.atLeast}`,
      pass: value >= target.atLeast,
    };
  else if (target?.atMost !== undefined)
    figure = {
      metric,
      db,
      value: rounded,
      unit,
      target: `<= ${target.atMost}`,
      pass: value <= target.atMost,
    };
  else figure = { metric, db, value: rounded, unit, target: null, pass: null };
  if (note) figure.note = note;
  console.log(JSON.stringify(figure));
}

export function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Nearest-rank percentile of an unsorted list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[
    Math.min(
      sorted.length - 1,
      Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
    )
  ];
}

interface LoadResult {
  /** Requests answered as expected inside the measured window. */
  count: number;
  seconds: number;
  /** Milliseconds from send to the full answer, measured requests only. */
  latencies: number[];
  /** Answers whose status was not the expected one (counted, never silently dropped). */
  unexpected: Map<number, number>;
  /** Server CPU time per measured request, in ms: unlike wall-clock figures, not slowed by other work on the machine. */
  cpuMsPerRequest: number;
  /** This process's CPU time per measured request: the load generator shares the machine's cores with the server. */
  clientCpuMsPerRequest: number;
}

/**
 * A closed loop: `concurrency` clients each send the next request as soon as the previous one is answered, for
 * `warmupMs` unmeasured, then `durationMs` measured. `send(i)` returns the HTTP status after reading the body.
 */
export async function closedLoop(opts: {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  expectStatus: number;
  send: (i: number) => Promise<number>;
  /** The server's process: its CPU time (with its children) over the measured window is reported per request. */
  serverPid: number;
}): Promise<LoadResult> {
  let next = 0;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  let cpuAtStart = 0;
  let clientCpuAtStart = process.cpuUsage();
  setTimeout(() => {
    cpuAtStart = cpuSeconds(opts.serverPid);
    clientCpuAtStart = process.cpuUsage();
  }, opts.warmupMs);
  const stopAt = measureFrom + opts.durationMs;
  const latencies: number[] = [];
  const unexpected = new Map<number, number>();
  let count = 0;
  const client = async () => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const status = await opts.send(next++);
      const t1 = performance.now();
      if (status !== opts.expectStatus) {
        unexpected.set(status, (unexpected.get(status) ?? 0) + 1);
        continue;
      }
      // Requests that started in the window and ended before its end: the window's sustained rate.
      if (t0 >= measureFrom && t1 <= stopAt) {
        latencies.push(t1 - t0);
        count++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, client));
  const cpuMsPerRequest =
    ((cpuSeconds(opts.serverPid) - cpuAtStart) * 1000) / count;
  const clientCpu = process.cpuUsage(clientCpuAtStart);
  const clientCpuMsPerRequest =
    (clientCpu.user + clientCpu.system) / 1000 / count;
  return {
    count,
    seconds: opts.durationMs / 1000,
    latencies,
    unexpected,
    cpuMsPerRequest,
    clientCpuMsPerRequest,
  };
}

/**
 * A lean HTTP client for load: node:http on kept-alive sockets. fetch costs ~1 ms of CPU per request here, and on
 * a 2-core machine every millisecond the load generator spends is taken from the server it measures.
 */
export function keepAliveClient(baseUrl: string, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const { hostname, port } = new URL(baseUrl);
  return {
    post(
      path: string,
      headers: Record<string, string>,
      body: string | Uint8Array,
    ): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            agent,
            hostname,
            port,
            path,
            method: "POST",
            headers: { ...headers, "Content-Length": Buffer.byteLength(body) },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (text += chunk));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, body: text }),
            );
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

export function describeUnexpected(result: LoadResult): string | null {
  if (result.unexpected.size === 0) return null;
  return [...result.unexpected]
    .map(([status, n]) => `${n}× HTTP ${status}`)
    .join(", ");
}

/** Builds the production server into a temporary directory (as test/support/globalSetup.ts does) for startApp. */
export function buildServer(): { remove: () => void } {
  const dir = mkdtempSync(path.join(ROOT, ".cache-bench-build-"));
  execFileSync(
    process.execPath,
    [path.join(ROOT, "node_modules/@remix-run/dev/dist/cli.js"), "vite:build"],
    {
      cwd: ROOT,
      env: { ...process.env, REMIX_BUILD_DIR: dir },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  process.env.TEST_BUILD_DIR = dir;
  return { remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A process and its descendants (`npm start` forks one server process per core), from /proc. */
function processTree(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  });
  return [pid, ...children.flatMap(processTree)];
}

/** Peak resident set size (VmHWM) in MB of the largest process of the tree: the high-water mark since it started. */
export function peakRssMb(pid: number): number {
  return Math.max(
    ...processTree(pid).map((p) => {
      const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(
        readFileSync(`/proc/${p}/status`, "utf8"),
      );
      if (!match) throw new Error(`no VmHWM in /proc/${p}/status`);
      return Number(match[1]) / 1024;
    }),
  );
}

const CLOCK_TICKS_PER_SEC = Number(
  execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim(),
);

/**
 * CPU seconds (user + system) a process tree has used, from /proc/<pid>/stat. Other work on a shared machine slows
 * the wall-clock figures but not this one, so CPU per request shows what the app itself costs.
 */
export function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (
      sum + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC
    );
  }, 0);
}

/**
 * CPU seconds that PostgreSQL's backends serving one database use from now until the returned function is called
 * (none on SQLite). The server is shared: only the backends connected to the bench's own database count, sampled
 * at both ends (a backend that started in between counts from its start); background processes (WAL writer,
 * checkpointer) are left out.
 */
export async function pgCpuMeter(
  dbUrl: string,
): Promise<() => Promise<number>> {
  if (benchDb() !== "postgresql") return async () => 0;
  const backends = async () => {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      return new Map(
        rows.flatMap(({ pid }) => {
          try {
            return [[pid, cpuSeconds(pid)] as const];
          } catch {
            return [];
          }
        }),
      );
    } finally {
      await client.end();
    }
  };
  const before = await backends();
  return async () => {
    let sum = 0;
    for (const [pid, cpu] of await backends())
      sum += cpu - (before.get(pid) ?? 0);
    return sum;
  };
}

/** The 1-minute load average and core count, to judge whether other work shared the machine during a run. */
export function machineLoad(): string {
  return `load average ${os.loadavg()[0].toFixed(2)} on ${os.availableParallelism()} cores`;
}

/** Connects the shop through the same connectShop as the Connect page, validated against the fake Graph API. */
export async function connectBenchShop(
  app: TestApp,
  graphUrl: string,
  domain: string,
  pixelId = PIXEL,
): Promise<void> {
  const keyRing = loadKeyRing(
    { TOKEN_ENCRYPTION_KEY: TOKEN_KEY } as unknown as NodeJS.ProcessEnv,
    { production: true, devKeyFile: "" },
  );
  const result = await connectShop(
    app.db,
    {
      keyRing,
      graph: (version) =>
        graphConfigFromEnv(
          { META_GRAPH_API_URL: graphUrl } as unknown as NodeJS.ProcessEnv,
          { version },
        ),
    },
    domain,
    { pixelId, accessToken: TOKEN },
  );
  if (!result.ok)
    throw new Error(
      `could not connect the bench shop: ${JSON.stringify(result)}`,
    );
  if (destinations === 1) return;
  const shop = await app.db.shop.findUniqueOrThrow({ where: { domain } });
  await saveOwnRule(app.db, shop.id, { kind: "country", values: ["CA"] });
  const second = await saveDestination(
    app.db,
    { keyRing, graph: () => graphConfigFromEnv({} as NodeJS.ProcessEnv) },
    shop,
    null,
    {
      pixelId: SECOND_PIXEL,
      accessToken: TOKEN,
      rule: { kind: "country", values: ["US"] },
    },
    { skipValidation: true },
  );
  if (!second.ok)
    throw new Error(
      `could not add the bench shop's second dataset: ${JSON.stringify(second)}`,
    );
}

/** The realistic fixture order (9 match keys, 3 lines, presentment money) with its own id, dated now. */
export function benchOrder(n: number, base: number) {
  const id = base + n;
  const now = new Date().toISOString();
  return makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    name: `#B${n}`,
    checkout_token: `bench${id}`,
    created_at: now,
    processed_at: now,
  });
}

/**
 * The fake Graph API as every section uses it (any pixel, counts only, 20 ms answers unless `latencyMs` says
 * otherwise) and the production server on the bench's database with `env`.
 */
export async function startBenchServer(
  opts: Pick<FakeGraphOptions, "latencyMs" | "onAnswer"> & {
    env: Record<string, string>;
  },
): Promise<{ graph: FakeGraph; app: TestApp }> {
  const graph = await startFakeGraph({
    latencyMs: opts.latencyMs ?? 20,
    onAnswer: opts.onAnswer,
    acceptAnyPixel: true,
    recordBodies: false,
  });
  const app = await startApp({
    db: benchDb(),
    graphUrl: graph.url,
    env: opts.env,
  });
  return { graph, app };
}
