import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
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

  // App Bridge's fetch interception: the app's own requests carry the current session token, and an answer that
  // asks to leave the app (a 401 with X-Shopify-API-Request-Failure-Reauthorize-Url: Shopify's charge approval
  // page, say) takes the admin's top window there; the frame is left, so the request never settles. Here the
  // destination is kept in window.__topNavigation instead.
  window.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin === origin && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", "Bearer " + (await idToken()));
    }
    const response = await nativeFetch(request);
    const away = response.headers.get("X-Shopify-API-Request-Failure-Reauthorize-Url");
    if (response.status === 401 && away) {
      window.__topNavigation = away;
      return new Promise(() => {});
    }
    return response;
  };

  // App Bridge renders the nav menu in the admin's sidebar, not in the app's frame: an empty shadow root hides
  // the links without touching the server-rendered markup React hydrates. The links it would show are readable
  // from the element (window.__navMenu()).
  customElements.define("ui-nav-menu", class extends HTMLElement { constructor() { super(); this.attachShadow({ mode: "open" }); } });
  window.__navMenu = () => [...document.querySelectorAll("ui-nav-menu a")].map((a) => ({ text: a.textContent, href: a.getAttribute("href"), rel: a.getAttribute("rel") }));

  // The contextual save bar: App Bridge shows it in the admin's top bar while the element is shown, with a Save
  // button (the child <button variant="primary">) and a Discard button (the other child), and hides the children
  // in the frame. Here the bar is drawn at the top of the frame, outside React's tree.
  customElements.define("ui-save-bar", class extends HTMLElement {
    constructor() { super(); this.attachShadow({ mode: "open" }); this.bar = null; }
    get showing() { return this.bar !== null; }
    show() {
      if (this.bar) return this.render();
      this.bar = document.createElement("div");
      this.bar.setAttribute("data-save-bar", "");
      this.bar.setAttribute("role", "region");
      this.bar.setAttribute("aria-label", "Unsaved changes");
      this.bar.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:1000;display:flex;gap:8px;align-items:center;justify-content:flex-end;padding:8px 12px;background:#1a1a1a;color:#fff;font:500 13px Inter,sans-serif";
      document.body.appendChild(this.bar);
      this.observer = new MutationObserver(() => this.render());
      this.observer.observe(this, { attributes: true, childList: true, subtree: true, characterData: true });
      this.render();
      this.dispatchEvent(new Event("show"));
    }
    hide() {
      if (!this.bar) return;
      this.observer.disconnect();
      this.bar.remove();
      this.bar = null;
      this.dispatchEvent(new Event("hide"));
    }
    render() {
      const children = [...this.querySelectorAll("button")];
      const save = children.find((b) => b.getAttribute("variant") === "primary");
      const discard = children.find((b) => b !== save);
      this.bar.replaceChildren(Object.assign(document.createElement("span"), { textContent: "Unsaved changes" }));
      this.bar.firstChild.style.marginRight = "auto";
      for (const [child, label] of [[discard, "Discard"], [save, "Save"]]) {
        if (!child) continue;
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = child.textContent || label;
        b.disabled = child.hasAttribute("disabled") || child.hasAttribute("loading");
        b.addEventListener("click", () => child.click());
        this.bar.appendChild(b);
      }
    }
  });
})();`;

// axe-core (Deque's accessibility rules), evaluated in the page as its own script.
const AXE_SOURCE: string = (
  createRequire(import.meta.url)("axe-core") as { source: string }
).source;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

export interface AdminPage {
  page: Page;
  /** Requests that left for another origin (answered empty): fonts only, nothing else expected. */
  external: string[];
  /** Errors the page logged or threw. */
  errors: string[];
  /** Loads an app path the way the Shopify admin opens it (a document load with a fresh session token). */
  open(pathname: string): Promise<void>;
  /** axe-core's serious and critical violations on the page as it is now (rule id, impact, the nodes' selectors). */
  accessibilityViolations(): Promise<AxeViolation[]>;
  /** A full-page PNG at test-artifacts/<name>.png (name may contain a folder). */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** A phone's screen and touch input, as Lighthouse's mobile emulation sets them (no hover, coarse pointer). */
export interface PhoneEmulation {
  width: number;
  height: number;
  deviceScaleFactor: number;
}

export async function adminBrowserPage(
  browser: Browser,
  appUrl: string,
  shop: string,
  phone?: PhoneEmulation,
): Promise<AdminPage> {
  const context = await browser.newContext({
    ...(phone
      ? {
          viewport: { width: phone.width, height: phone.height },
          deviceScaleFactor: phone.deviceScaleFactor,
          isMobile: true,
          hasTouch: true,
        }
      : { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 }),
    // Headless Chromium says "HeadlessChrome", which the app's bot check rejects (410) like any crawler.
    userAgent: (
      await browser
        .newBrowserCDPSession()
        .then((cdp) => cdp.send("Browser.getVersion"))
    ).userAgent.replace("HeadlessChrome", "Chrome"),
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
      if (url === APP_BRIDGE_URL)
        return route.fulfill({
          status: 200,
          contentType: "text/javascript",
          body: APP_BRIDGE_STAND_IN,
        });
      external.push(url);
      return route.fulfill({
        status: 200,
        contentType: url.endsWith(".css") ? "text/css" : "text/plain",
        body: "",
      });
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
      url.searchParams.set(
        "host",
        Buffer.from(`${shop}/admin`).toString("base64url"),
      );
      url.searchParams.set("id_token", mintSessionToken(shop));
      const res = await page.goto(url.toString(), { waitUntil: "load" });
      if (!res || res.status() !== 200)
        throw new Error(
          `${pathname} answered ${res?.status()}: ${(await res?.text())?.slice(0, 300)}`,
        );
      await waitForHydration(page);
    },
    async accessibilityViolations() {
      await page.evaluate(AXE_SOURCE);
      const violations = await page.evaluate(async () => {
        const axe = (
          window as unknown as {
            axe: {
              run(
                context: Document,
                options: object,
              ): Promise<{
                violations: {
                  id: string;
                  impact: string | null;
                  help: string;
                  nodes: { target: string[] }[];
                }[];
              }>;
            };
          }
        ).axe;
        const result = await axe.run(document, {
          runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"] },
        });
        return result.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          targets: v.nodes.map((n) => n.target.join(" ")),
        }));
      });
      return violations.filter(
        (v) => v.impact === "serious" || v.impact === "critical",
      );
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
    const router = (
      window as unknown as {
        __remixRouter?: {
          state: { initialized: boolean; navigation: { state: string } };
        };
      }
    ).__remixRouter;
    const root = document.querySelector(".Polaris-Page");
    const hydrated =
      root !== null &&
      Object.keys(root).some((key) => key.startsWith("__reactFiber$"));
    return (
      hydrated &&
      Boolean(
        router?.state.initialized && router.state.navigation.state === "idle",
      )
    );
  });
}
