import { isIP } from "node:net";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Shared } from "../redis.server";

// The pixel endpoint's limits are a noise filter, not an accounting system: enough to stop one client or one
// storefront from flooding the endpoint. rate-limiter-flexible counts them in fixed windows, in this process's
// memory or, with REDIS_URL, in Redis for every web node at once (decisions 96).

/**
 * At most `ratePerSec` on average, in windows of ceil(burst / rate) seconds that each take rate × window requests
 * (at least `burst`): INGEST_CLIENT_* 20/s and 60 → 60 per 3 s. With Redis, while it cannot be reached, this
 * process counts on its own (the library's insurance limiter) rather than refusing or waiting.
 */
export class RateLimit {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    name: string,
    ratePerSec: number,
    burst: number,
    shared: Shared | null,
  ) {
    const duration = Math.max(1, Math.ceil(burst / ratePerSec));
    const options = {
      keyPrefix: name,
      duration,
      points: Math.max(burst, Math.round(ratePerSec * duration)),
    };
    const memory = new RateLimiterMemory(options);
    this.limiter = shared
      ? new RateLimiterRedis({
          ...options,
          keyPrefix: `${shared.prefix}ingest:${name}`,
          storeClient: shared.client,
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
  }

  /** True when the request may go ahead. */
  async take(key: string): Promise<boolean> {
    try {
      await this.limiter.consume(key);
      return true;
    } catch (err) {
      if (err instanceof RateLimiterRes) return false;
      throw err;
    }
  }
}

/** Keys seen recently, at most maxKeys: the least recently used goes first, so new keys cannot flush a key in use. */
export class RecentKeys {
  private keys = new Set<string>();

  constructor(private readonly maxKeys = 100_000) {}

  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.maxKeys)
      this.keys.delete(this.keys.values().next().value!);
  }

  has(key: string): boolean {
    if (!this.keys.delete(key)) return false;
    this.keys.add(key);
    return true;
  }
}

/**
 * The rate-limit key of a client address: an IPv6 client is its /64 (the network's share of one subscriber, whose
 * hosts pick addresses in it at will), an IPv4 one its address.
 */
export function clientKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head, tail] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = Array<string>(Math.max(0, 8 - left.length - right.length)).fill(
    "0",
  );
  const groups = tail === undefined ? left : [...left, ...zeros, ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
