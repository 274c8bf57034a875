import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "./app";
import { mintSessionToken } from "./shopifyAdmin";

// The embedded admin in a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no browser
// download). Shopify's admin frame is not here, so the page gets what the admin would give it:
//   - the document URL Shopify loads (embedded=1, shop, host, id_token: a session token minted like Shopify does);
//   - a stand-in for App Bridge's CDN script (unreachable here; production loads the real one): window.shopify with
//     idToken() (fresh tokens from the test), toast, and App Bridge's fetch interception that adds
//     `Authorization: Bearer <session token>` to the app's own requests, which is how Remix's client-side loaders
//     and actions authenticate;
//   - every other request off the app's origin (the Inter font CSS on cdn.shopify.com) answered empty.

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = path.join(ROOT, "test-artifacts");

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js";

// Runs as a classic script where App Bridge's would, before the app's module scripts.
const APP_BRIDGE_STAND_IN = `(() => {
  const origin = location.origin;
  const nativeFetch = window.fetch.bind(window);
  const params = new URLSearchParams(location.search);
  const idToken = () => window.__testMintIdToken();

  const toasts = document.createElement("div");
  toasts.setAttribute("data-toasts", "");
  toasts.style.cssText = "position:fixed;left:50%;bottom:24px;transform:translateX(-50%);display:flex;flex-direction:column;gap:8px;z-index:1000";
  let toastId = 0;
  const toast = {
    show(message, opts = {}) {
      const el = document.createElement("div");
      el.setAttribute("role", "status");
      el.setAttribute("data-toast", opts.isError ? "error" : "info");
      el.textContent = message;
      el.style.cssText = "background:" + (opts.isError ? "#8e1f0b" : "#1a1a1a") + ";color:#fff;padding:10px 16px;border-radius:10px;font:500 13px Inter,sans-serif;box-shadow:0 4px 12px rgba(0,0,0,.25)";
      (document.body || document.documentElement).appendChild(toasts);
      toasts.appendChild(el);
      setTimeout(() => el.remove(), opts.duration ?? 5000);
      return String(++toastId);
    },
    hide() {},
  };

  window.shopify = {
    config: { apiKey: document.currentScript && document.currentScript.dataset.apiKey, shop: params.get("shop"), host: params.get("host"), locale: "en" },
    origin,
    ready: Promise.resolve(),
    environment: { embedded: true, mobile: false, pos: false },
    idToken,
    toast,
    loading() {},
  };

  // App Bridge's fetch interception: the app's own requests carry the current session token.
  window.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin === origin && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", "Bearer " + (await idToken()));
    }
    return nativeFetch(request);
  };

  // App Bridge renders the nav menu in the admin's sidebar, not in the app's frame: an empty shadow root hides
  // the links without touching the server-rendered markup React hydrates.
  customElements.define("ui-nav-menu", class extends HTMLElement { constructor() { super(); this.attachShadow({ mode: "open" }); } });
})();`;

export interface AdminPage {
  page: Page;
  /** Requests that left for another origin (answered empty): fonts only, nothing else expected. */
  external: string[];
  /** Errors the page logged or threw. */
  errors: string[];
  /** Loads an app path the way the Shopify admin opens it (a document load with a fresh session token). */
  open(pathname: string): Promise<void>;
  /** A full-page PNG at test-artifacts/<name>.png (name may contain a folder). */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function adminBrowserPage(browser: Browser, appUrl: string, shop: string): Promise<AdminPage> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    // Headless Chromium says "HeadlessChrome", which the app's bot check rejects (410) like any crawler.
    userAgent: (await browser.newBrowserCDPSession().then((cdp) => cdp.send("Browser.getVersion"))).userAgent.replace("HeadlessChrome", "Chrome"),
  });
  const page = await context.newPage();
  const external: string[] = [];
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  await page.exposeFunction("__testMintIdToken", () => mintSessionToken(shop));
  const origin = new URL(appUrl).origin;
  await page.route(
    (url) => url.origin !== origin,
    async (route) => {
      const url = route.request().url();
      if (url === APP_BRIDGE_URL) return route.fulfill({ status: 200, contentType: "text/javascript", body: APP_BRIDGE_STAND_IN });
      external.push(url);
      return route.fulfill({ status: 200, contentType: url.endsWith(".css") ? "text/css" : "text/plain", body: "" });
    },
  );
  return {
    page,
    external,
    errors,
    async open(pathname) {
      const url = new URL(pathname, appUrl);
      url.searchParams.set("embedded", "1");
      url.searchParams.set("shop", shop);
      url.searchParams.set("host", Buffer.from(`${shop}/admin`).toString("base64url"));
      url.searchParams.set("id_token", mintSessionToken(shop));
      const res = await page.goto(url.toString(), { waitUntil: "load" });
      if (!res || res.status() !== 200) throw new Error(`${pathname} answered ${res?.status()}: ${(await res?.text())?.slice(0, 300)}`);
      await waitForHydration(page);
    },
    async screenshot(name) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
    },
  };
}

/** The page is interactive once React has hydrated the Polaris page (its DOM node carries React's fiber) and Remix is idle. */
export async function waitForHydration(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const router = (window as unknown as { __remixRouter?: { state: { initialized: boolean; navigation: { state: string } } } }).__remixRouter;
    const root = document.querySelector(".Polaris-Page");
    const hydrated = root !== null && Object.keys(root).some((key) => key.startsWith("__reactFiber$"));
    return hydrated && Boolean(router?.state.initialized && router.state.navigation.state === "idle");
  });
}
