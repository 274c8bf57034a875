import { Redis } from "ioredis";

// What several web nodes share (decisions 96): with REDIS_URL, the pixel endpoint's rate limits count in Redis
// and a change of a shop reaches every node's shop cache through Redis pub/sub. Without it, one node: each process
// keeps its own. Keys and channels start with REDIS_KEY_PREFIX ("capi:"), so apps or test runs can share a server.

export interface Shared {
  client: Redis;
  prefix: string;
}

let shared: Shared | null | undefined;

/** The connection for commands, made on first use; null without REDIS_URL. */
export function redis(): Shared | null {
  if (shared !== undefined) return shared;
  const url = process.env.REDIS_URL?.trim();
  shared = url
    ? {
        client: connect(url, "commands", {
          // While Redis is away a command fails at once (no queue, no wait): the pixel endpoint then limits in
          // this process's memory instead of waiting (decisions 96).
          enableOfflineQueue: false,
          commandTimeout: 250,
        }),
        prefix: prefix(),
      }
    : null;
  return shared;
}

function prefix(): string {
  return process.env.REDIS_KEY_PREFIX ?? "capi:";
}

/**
 * Calls onMessage with every message published on the channel (prefixed) while this process is subscribed, and
 * onSubscribed each time the subscription is (again) in place: messages published while it was not are lost.
 * Nothing without REDIS_URL.
 */
export function subscribe(
  channel: string,
  onMessage: (message: string) => void,
  onSubscribed: () => void,
): void {
  const url = process.env.REDIS_URL?.trim();
  if (!url) return;
  const name = prefix() + channel;
  const client = connect(url, "subscriber", {});
  client.on("ready", () => {
    client.subscribe(name).then(onSubscribed, () => {});
  });
  client.on("message", (from: string, message: string) => {
    if (from === name) onMessage(message);
  });
}

/** Publishes on the channel (prefixed) when REDIS_URL is set; a failure is logged, never thrown. */
export async function publish(channel: string, message: string): Promise<void> {
  const r = redis();
  if (!r) return;
  await r.client.publish(r.prefix + channel, message).catch((err: Error) => {
    console.warn(`[redis] publish on ${channel} failed: ${err.message}`);
  });
}

/** One warning when the connection is lost (not one per retry), one line when it is back. Never the URL: it may hold a password. */
function connect(
  url: string,
  role: string,
  options: { enableOfflineQueue?: boolean; commandTimeout?: number },
): Redis {
  const client = new Redis(url, {
    ...options,
    maxRetriesPerRequest: 1,
    autoResubscribe: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let down = false;
  client.on("error", (err: Error) => {
    if (down) return;
    down = true;
    console.warn(
      `[redis] ${role} connection: ${err.message}; until it is back, rate limits count in this process only and shop changes reach other nodes within 5 s (decisions 96)`,
    );
  });
  client.on("ready", () => {
    if (!down) return;
    down = false;
    console.log(`[redis] ${role} connection is back`);
  });
  return client;
}
