import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./app";

// A PostgreSQL server of one test alone, for what the shared one (TEST_POSTGRES_URL) must never go through: being
// stopped and started again. initdb and pg_ctl from PG_BIN, /usr/local/bin or Debian's /usr/lib/postgresql/*/bin;
// a cluster in a temp dir on a free port of 127.0.0.1, without durability (fsync off: the test restarts the server,
// not the machine). PostgreSQL refuses to run as root: as root, the cluster is the `postgres` user's (runuser).

const run = promisify(execFile);

function binDir(): string | null {
  const candidates = [
    process.env.PG_BIN,
    "/usr/local/bin",
    ...(fs.existsSync("/usr/lib/postgresql")
      ? fs
          .readdirSync("/usr/lib/postgresql")
          .sort((a, b) => Number(b) - Number(a))
          .map((v) => `/usr/lib/postgresql/${v}/bin`)
      : []),
  ];
  return (
    candidates.find(
      (dir) =>
        dir &&
        fs.existsSync(path.join(dir, "initdb")) &&
        fs.existsSync(path.join(dir, "pg_ctl")),
    ) ?? null
  );
}

function userIds(name: string): { uid: number; gid: number } | null {
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

const asRoot = process.getuid?.() === 0;

/** Why no private server can be started here, or null when one can. */
export function privatePostgresUnavailable(): string | null {
  if (!binDir()) return "no initdb/pg_ctl (set PG_BIN, or install postgresql)";
  if (asRoot && !userIds("postgres"))
    return "running as root, and there is no `postgres` user to run PostgreSQL as (it refuses root)";
  if (
    asRoot &&
    !fs.existsSync("/usr/sbin/runuser") &&
    !fs.existsSync("/sbin/runuser")
  )
    return "running as root without runuser to run PostgreSQL as another user";
  return null;
}

export interface PrivatePostgres {
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** Stops the server at once (as a crash would: recovery at the next start), waits `downMs`, starts it again. */
  restart(downMs: number): Promise<{ down: number; up: number }>;
  close(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capi-pg-"));
  const data = path.join(dir, "data");
  const owner = asRoot ? userIds("postgres")! : null;
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  const port = await freePort();
  const pg = (tool: string, args: string[]) =>
    owner
      ? run("runuser", ["-u", "postgres", "--", path.join(bin, tool), ...args])
      : run(path.join(bin, tool), args);
  const start = () =>
    pg("pg_ctl", [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-w",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100`,
      "start",
    ]);
  const stop = () => pg("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
  try {
    await pg("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    await start();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async restart(downMs) {
      const down = Date.now();
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
      return { down, up: Date.now() };
    },
    async close() {
      await stop().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
