import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import vm from "node:vm";
import { webcrypto } from "node:crypto";
import type { RegisterInit } from "@shopify/web-pixels-extension";
import { buildPixel } from "../../scripts/build-pixel";

// Runs the BUNDLED web pixel (what Shopify serves) the way Shopify's strict sandbox does, without a browser:
// a fresh `node:vm` context holding only worker-like globals (no window, no document, no DOM), plus
//   - the global `shopify.extend("WebPixel::Render", fn)` that @shopify/web-pixels-extension's `register`
//     calls (it is a free global in the bundle, defined by Shopify's runtime);
//   - the extension API: analytics.subscribe, browser.cookie/localStorage/sessionStorage, init, settings,
//     customerPrivacy.subscribe;
//   - a `fetch` recorder.
// Event payloads are JSON-cloned on the way in, as the real runtime copies them across a postMessage boundary.
// UNVERIFIED: what the real browser.cookie.get returns for a missing cookie (typed Promise<string>); the jar
// returns "" by default and `missingCookieValue` lets a test use undefined/null instead.

export interface RecordedRequest {
  url: string;
  init: {
    method?: string;
    mode?: string;
    keepalive?: boolean;
    body?: unknown;
    headers?: unknown;
    [k: string]: unknown;
  };
}

export interface CookieWrite {
  raw: string;
  name: string;
  value: string;
  attributes: Record<string, string>;
}

export interface PixelSandboxOptions {
  settings: Record<string, string>;
  init: RegisterInit;
  /** Cookies already on the storefront. */
  cookies?: Record<string, string>;
  /** Freeze Date.now() inside the sandbox. */
  now?: () => number;
  /** Remove crypto.subtle (exercises the portable SHA-256). */
  withoutSubtle?: boolean;
  missingCookieValue?: string | null | undefined;
  /** Use an existing bundle instead of the per-process build. */
  bundlePath?: string;
  /** The app's answers to ingest posts wait for answerAppPosts() (a slow network), instead of coming at once. */
  holdAppAnswers?: boolean;
}

export interface PixelSandbox {
  /** Event names the pixel subscribed to, in order. */
  readonly subscriptions: string[];
  readonly requests: RecordedRequest[];
  readonly cookies: Map<string, string>;
  readonly cookieWrites: CookieWrite[];
  readonly cookieReads: string[];
  readonly consentSubscriptions: string[];
  /** Delivers an event to every subscriber of `name` (and of all_events / all_standard_events), then settles. */
  publish(name: string, event: unknown): Promise<void>;
  /** Fires customerPrivacy `visitorConsentCollected` with the given snapshot, then settles. */
  setConsent(customerPrivacy: object): Promise<void>;
  flush(): Promise<void>;
  /** Requests to Meta's image pixel, with their decoded query. */
  metaRequests(): {
    url: string;
    params: URLSearchParams;
    init: RecordedRequest["init"];
  }[];
  /** Requests to the app's ingest URL, with the raw body. */
  appPosts(): { url: string; body: string; init: RecordedRequest["init"] }[];
  clearRequests(): void;
  /** Answers every ingest post held so far (holdAppAnswers). */
  answerAppPosts(): void;
}

let bundleCache: Promise<string> | null = null;

/** Builds the extension once per test process into a temp dir, with scripts/build-pixel.ts. */
export function pixelBundle(): Promise<string> {
  bundleCache ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "meta-capi-pixel-"));
    try {
      const { outfile } = await buildPixel(path.join(dir, "main.js"));
      return await readFile(outfile, "utf8");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return bundleCache;
}

export async function startPixel(
  opts: PixelSandboxOptions,
): Promise<PixelSandbox> {
  const code = opts.bundlePath
    ? await readFile(opts.bundlePath, "utf8")
    : await pixelBundle();

  const subscribers = new Map<string, ((e: unknown) => unknown)[]>();
  const consentSubscribers = new Map<string, ((e: unknown) => unknown)[]>();
  const subscriptions: string[] = [];
  const consentSubscriptions: string[] = [];
  const requests: RecordedRequest[] = [];
  const cookies = new Map(Object.entries(opts.cookies ?? {}));
  const cookieWrites: CookieWrite[] = [];
  const cookieReads: string[] = [];
  const pending = new Set<Promise<unknown>>();
  const track = (p: unknown) => {
    if (p && typeof (p as Promise<unknown>).then === "function") {
      const q = Promise.resolve(p as Promise<unknown>).catch(() => undefined);
      pending.add(q);
      q.finally(() => pending.delete(q));
    }
  };

  const heldAnswers: (() => void)[] = [];
  const fetchRecorder = (url: unknown, init?: RecordedRequest["init"]) => {
    requests.push({ url: String(url), init: { ...(init ?? {}) } });
    // an opaque no-cors answer / an unread ingest answer
    const answer = {
      ok: true,
      status: 0,
      type: init?.mode === "no-cors" ? "opaque" : "basic",
    };
    if (!opts.holdAppAnswers || String(url) !== opts.settings.ingestUrl)
      return Promise.resolve(answer);
    return new Promise((resolve) => heldAnswers.push(() => resolve(answer)));
  };

  const storage = () => {
    const m = new Map<string, string>();
    return {
      clear: async () => m.clear(),
      getItem: async (k: string) => (m.has(k) ? m.get(k)! : null),
      key: async (i: number) => [...m.keys()][i] ?? null,
      length: async () => m.size,
      removeItem: async (k: string) => void m.delete(k),
      setItem: async (k: string, v: unknown) => void m.set(k, String(v)),
    };
  };

  const browser = {
    cookie: {
      get: async (name?: string) => {
        if (name === undefined)
          return [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
        cookieReads.push(name);
        return cookies.has(name)
          ? cookies.get(name)!
          : (opts.missingCookieValue ?? "");
      },
      // Shopify's signature: set("name=value; attrs") or set(name, value)
      set: async (cookieOrName: string, value?: string) => {
        const write =
          value === undefined
            ? parseCookie(cookieOrName)
            : {
                raw: `${cookieOrName}=${value}`,
                name: cookieOrName,
                value,
                attributes: {},
              };
        cookieWrites.push(write);
        cookies.set(write.name, write.value);
        return write.raw;
      },
    },
    localStorage: storage(),
    sessionStorage: storage(),
    sendBeacon: async () => {
      throw new Error(
        "browser.sendBeacon is deprecated: use fetch(url, { keepalive: true })",
      );
    },
  };

  const analytics = {
    subscribe: (name: string, cb: (e: unknown) => unknown) => {
      subscriptions.push(name);
      const list = subscribers.get(name) ?? [];
      list.push(cb);
      subscribers.set(name, list);
      return () => {
        const l = subscribers.get(name) ?? [];
        const i = l.indexOf(cb);
        if (i >= 0) l.splice(i, 1);
        return i >= 0;
      };
    },
  };
  const customerPrivacy = {
    subscribe: (name: string, cb: (e: unknown) => unknown) => {
      consentSubscriptions.push(name);
      const list = consentSubscribers.get(name) ?? [];
      list.push(cb);
      consentSubscribers.set(name, list);
      return () => true;
    },
  };

  let extendFn: ((api: unknown) => void) | null = null;
  const shopifyGlobal = {
    extend: (point: string, fn: (api: unknown) => void) => {
      if (point !== "WebPixel::Render")
        throw new Error(`unexpected extension point ${point}`);
      extendFn = fn;
    },
  };

  const cryptoForSandbox = opts.withoutSubtle
    ? {
        getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
        randomUUID: webcrypto.randomUUID.bind(webcrypto),
      }
    : webcrypto;

  const context = vm.createContext({
    shopify: shopifyGlobal,
    fetch: fetchRecorder,
    crypto: cryptoForSandbox,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    console,
    setTimeout,
    clearTimeout,
    __now: opts.now,
  });
  // Date, Math, JSON, Promise are the context's own intrinsics; optionally freeze the clock.
  vm.runInContext(
    `"use strict"; if (typeof __now === "function") { const n = __now; Date.now = () => n(); } globalThis.self = globalThis;`,
    context,
  );
  vm.runInContext(code, context, { filename: "meta-capi-pixel/dist/main.js" });
  if (!extendFn)
    throw new Error(
      "the bundle did not call shopify.extend('WebPixel::Render', fn) (register)",
    );

  const api = {
    analytics,
    browser,
    init: clone(opts.init),
    settings: { ...opts.settings },
    customerPrivacy,
    _pixelInfo: {
      id: "gid://shopify/WebPixel/1",
      type: "APP",
      runtimeContext: "STRICT",
    },
  };
  (extendFn as (api: unknown) => void)(api);

  const flush = async () => {
    for (let i = 0; i < 5; i++) {
      await Promise.all([...pending]);
      await new Promise((r) => setImmediate(r));
    }
  };
  await flush();

  return {
    subscriptions,
    requests,
    cookies,
    cookieWrites,
    cookieReads,
    consentSubscriptions,
    async publish(name, event) {
      const payload = clone(event);
      for (const key of [name, "all_standard_events", "all_events"]) {
        for (const cb of subscribers.get(key) ?? []) track(cb(payload));
      }
      await flush();
    },
    async setConsent(customerPrivacy) {
      for (const cb of consentSubscribers.get("visitorConsentCollected") ??
        []) {
        track(cb(clone({ customerPrivacy })));
      }
      await flush();
    },
    flush,
    metaRequests() {
      return requests
        .filter((r) => r.url.startsWith("https://www.facebook.com/tr"))
        .map((r) => ({
          url: r.url,
          params: new URL(r.url).searchParams,
          init: r.init,
        }));
    },
    appPosts() {
      const ingest = opts.settings.ingestUrl;
      return requests
        .filter((r) => ingest && r.url === ingest)
        .map((r) => ({ url: r.url, body: String(r.init.body), init: r.init }));
    },
    clearRequests() {
      requests.length = 0;
    },
    answerAppPosts() {
      for (const answer of heldAnswers.splice(0)) answer();
    },
  };
}

function parseCookie(raw: string): CookieWrite {
  const [pair, ...attrs] = raw.split(";");
  const eq = pair.indexOf("=");
  const name = (eq >= 0 ? pair.slice(0, eq) : pair).trim();
  const value = eq >= 0 ? pair.slice(eq + 1).trim() : "";
  const attributes: Record<string, string> = {};
  for (const a of attrs) {
    const i = a.indexOf("=");
    const k = (i >= 0 ? a.slice(0, i) : a).trim().toLowerCase();
    if (k) attributes[k] = i >= 0 ? a.slice(i + 1).trim() : "";
  }
  return { raw, name, value, attributes };
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
