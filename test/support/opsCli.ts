import { spawn } from "node:child_process";
import { ROOT, type TestApp } from "./app";

// Runs the ops CLI (`npm run ops -- …`) as an operator would: a child process against the running app's database,
// with the app's key and Graph API URL, and nothing else from the test process's environment.

export interface OpsResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function runOps(
  app: Pick<TestApp, "env">,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<OpsResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    NODE_ENV: "production",
    DATABASE_URL: app.env.DATABASE_URL,
    TOKEN_ENCRYPTION_KEY: app.env.TOKEN_ENCRYPTION_KEY,
    META_GRAPH_API_URL: app.env.META_GRAPH_API_URL,
    META_GRAPH_TIMEOUT_MS: app.env.META_GRAPH_TIMEOUT_MS,
    ...opts.env,
  };
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "ops/cli.ts", ...args],
    { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: "pipe" },
  );
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  proc.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  proc.stdin.end(opts.stdin ?? "");
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once("error", reject);
    proc.once("close", resolve);
  });
  return { code, stdout, stderr };
}

/** stdout parsed as the JSON the CLI prints; fails with both streams when it is not JSON. */
export function jsonOf<T = Record<string, unknown>>(res: OpsResult): T {
  try {
    return JSON.parse(res.stdout) as T;
  } catch {
    throw new Error(
      `ops CLI printed no JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`,
    );
  }
}

/** The error the CLI printed: the last line of stderr, parsed as JSON; fails with both streams when it is not JSON. */
export function errorOf(res: OpsResult): { error: string; code: number } {
  try {
    return JSON.parse(res.stderr.trimEnd().split("\n").at(-1)!) as {
      error: string;
      code: number;
    };
  } catch {
    throw new Error(
      `ops CLI printed no JSON error (exit ${res.code}):\n${res.stdout}\n${res.stderr}`,
    );
  }
}

/** `settings --shop S --set key=<JSON>…`, asserting success; returns the CLI's answer. */
export async function setSettings(
  app: Pick<TestApp, "env">,
  shop: string,
  values: Record<string, unknown>,
): Promise<{
  ok: boolean;
  settings: Record<string, unknown>;
  eventsRedecided: number;
}> {
  const args = ["settings", "--shop", shop];
  for (const [key, value] of Object.entries(values))
    args.push("--set", `${key}=${JSON.stringify(value)}`);
  const res = await runOps(app, args);
  if (res.code !== 0)
    throw new Error(`ops settings failed (exit ${res.code}): ${res.stderr}`);
  return jsonOf(res);
}
