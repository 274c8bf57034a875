// Meta's browser ids, kept in first-party cookies on the storefront (never hashed; formats in
// app/core/wire/cookies.ts, any of which is kept as it is):
//   _fbp = fb.1.<creation ms>.<random int 1..2147483647>   (created here when absent)
//   _fbc = fb.1.<creation ms>.<fbclid>                      (from ?fbclid= in the page URL)
// Rules (Meta's fbp-and-fbc docs): fbclid is case-sensitive; set _fbc only when absent or when its fbclid
// differs; ignore fbclid values over 500 characters; both cookies live 90 days.
// Cookies are read once and then served from memory.

import {
  FBC_PATTERN,
  FBP_PATTERN,
  clickIdOfFbc,
  fbcOfClickId,
  isClickId,
} from "../../../app/core/wire";

const NINETY_DAYS_S = 90 * 24 * 60 * 60;

export interface CookieJar {
  get(name: string): Promise<string | null | undefined>;
  /** Shopify's browser.cookie.set takes a document.cookie style string `name=value; attrs`. */
  set(cookie: string): Promise<unknown>;
}

export interface Ids {
  fbp?: string;
  fbc?: string;
}

export function fbclidFromUrl(href: string | null | undefined): string | null {
  if (!href || href.indexOf("fbclid=") < 0) return null;
  let value: string | null = null;
  try {
    value = new URL(href).searchParams.get("fbclid");
  } catch {
    return null;
  }
  return value && isClickId(value) ? value : null;
}

export function cookieString(
  name: string,
  value: string,
  nowMs: number,
): string {
  const expires = new Date(nowMs + NINETY_DAYS_S * 1000).toUTCString();
  return `${name}=${value}; expires=${expires}; max-age=${NINETY_DAYS_S}; path=/; SameSite=Lax`;
}

export function randomFbpInt(): number {
  try {
    const a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return (a[0] % 2147483647) + 1;
  } catch {
    return Math.floor(Math.random() * 2147483647) + 1;
  }
}

export class Identity {
  private ids: Ids = {};
  private chain: Promise<void> | null = null;
  private loaded = false;

  constructor(
    private readonly cookies: CookieJar,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Loads (once) or creates _fbp, adopts an fbclid from `href`, and returns the current ids. Calls are
   * serialised so concurrent events never create two different _fbp values.
   */
  ensure(href?: string | null): Promise<Ids> {
    const step = async () => {
      if (!this.loaded) {
        this.loaded = true;
        await this.load();
      }
      await this.adoptFbclid(href);
    };
    const next = (this.chain ?? Promise.resolve()).then(step, step);
    this.chain = next.catch(() => undefined);
    return next.then(
      () => ({ ...this.ids }),
      () => ({ ...this.ids }),
    );
  }

  private async load(): Promise<void> {
    const fbp = await this.read("_fbp");
    if (fbp) {
      // An existing cookie is kept as it is (fbevents.js or an earlier visit set it); an unreadable one is
      // neither sent nor overwritten.
      if (FBP_PATTERN.test(fbp)) this.ids.fbp = fbp;
    } else {
      const created = `fb.1.${this.now()}.${randomFbpInt()}`;
      this.ids.fbp = created;
      await this.write("_fbp", created);
    }
    const fbc = await this.read("_fbc");
    if (fbc && FBC_PATTERN.test(fbc)) this.ids.fbc = fbc;
  }

  private async adoptFbclid(href?: string | null): Promise<void> {
    const fbclid = fbclidFromUrl(href);
    if (!fbclid || clickIdOfFbc(this.ids.fbc) === fbclid) return;
    const fbc = fbcOfClickId(fbclid, this.now());
    this.ids.fbc = fbc;
    await this.write("_fbc", fbc);
  }

  private async read(name: string): Promise<string | null> {
    try {
      const v = await this.cookies.get(name);
      return typeof v === "string" && v.trim() ? v.trim() : null;
    } catch {
      return null;
    }
  }

  private async write(name: string, value: string): Promise<void> {
    try {
      await this.cookies.set(cookieString(name, value, this.now()));
    } catch {
      // the value is still used from memory for this page
    }
  }
}
