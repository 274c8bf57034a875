import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Db, Shop } from "../db";
import { lookupPixel, type GraphConfig } from "../meta";
import {
  decryptToken,
  encryptToken,
  reencrypt,
  TokenDecryptError,
  type KeyRing,
} from "./tokenCrypto";
import {
  DEFAULT_SETTINGS,
  parseSettings,
  settingsSchema,
  type ShopSettings,
} from "../reference";
import { asJson, type Outbox } from "../outbox";
import { redecidePending } from "../intake";

// A shop's Meta connection and settings, with the same validation for the admin UI and the ops CLI.

export const connectionSchema = z.object({
  pixelId: z
    .string()
    .trim()
    .regex(
      /^\d{6,20}$/,
      "Enter the dataset (pixel) ID: the 15–16 digit number shown in Meta Events Manager.",
    ),
  // Blank keeps the stored token: the field is write-only and never shows the token again.
  accessToken: z
    .string()
    .trim()
    .max(1024, "That access token is too long: copy it again from Meta.")
    .refine(
      (t) => t === "" || /^[A-Za-z0-9_\-.|]{20,}$/.test(t),
      "That does not look like a Meta access token (it usually starts with EAA).",
    ),
  testEventCode: z
    .string()
    .trim()
    .regex(
      /^[A-Za-z0-9]{0,40}$/,
      "Test event codes are letters and digits, like TEST12345.",
    )
    .default(""),
  graphApiVersion: z
    .string()
    .trim()
    .regex(
      /^(v\d{1,2}\.\d)?$/,
      "Use the form v24.0, or leave blank for the app's default.",
    )
    .default(""),
});
export type ConnectionInput = z.input<typeof connectionSchema>;

export type FieldErrors = Record<string, string>;

/** The dispatcher's pause when the key that sealed the shop's token is not configured (decisions 45). */
export const TOKEN_KEY_PAUSE = "token_key";

/** Ends a pause: the paused events are still pending and go out with the next claim. */
export const RESUMED = {
  pausedReason: null,
  pausedDetail: null,
  pausedAt: null,
  pauseNotifiedAt: null,
};

export type ConnectResult =
  | { ok: true; pixelName: string | null; validated: boolean }
  | { ok: false; fieldErrors: FieldErrors }
  | {
      ok: false;
      error: {
        title: string;
        fix: string;
        code: number | null;
        fbtraceId: string | null;
      };
    };

export interface ConnectDeps {
  keyRing: KeyRing;
  graph: (versionOverride: string | null) => GraphConfig;
}

export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.join(".") || "form";
    out[key] ??= issue.message;
  }
  return out;
}

export function newIngestKey(): string {
  return randomBytes(18).toString("base64url");
}

/** The shop row, created on first sight (install, first webhook seen by the ops CLI). */
export async function ensureShop(
  db: Db,
  domain: string,
  scope?: string | null,
): Promise<Shop> {
  return db.shop.upsert({
    where: { domain },
    create: {
      domain,
      scope: scope ?? null,
      settings: asJson(DEFAULT_SETTINGS),
      ingestKey: newIngestKey(),
    },
    update: { uninstalledAt: null, ...(scope !== undefined ? { scope } : {}) },
  });
}

/**
 * The token to store (the pasted one, or the stored one when the field was left blank) and Meta's yes for the
 * dataset: the check of a shop's own connection and of every further destination (decisions 130).
 */
export async function checkConnection(
  deps: ConnectDeps,
  input: z.output<typeof connectionSchema>,
  stored: Pick<Shop, "tokenCiphertext" | "tokenKeyId"> | null,
  opts: { skipValidation?: boolean } = {},
): Promise<
  | {
      ok: true;
      token: string;
      pixelName: string | null;
      version: string | null;
    }
  | Exclude<ConnectResult, { ok: true }>
> {
  let token = input.accessToken;
  if (!token) {
    if (!stored?.tokenCiphertext)
      return {
        ok: false,
        fieldErrors: { accessToken: "Paste the access token from Meta." },
      };
    try {
      token = decryptToken(deps.keyRing, {
        ciphertext: stored.tokenCiphertext,
        keyId: stored.tokenKeyId!,
      });
    } catch (error) {
      // Its key is not configured (or the row was altered): only a pasted token can fix the connection.
      if (!(error instanceof TokenDecryptError)) throw error;
      const message =
        "The saved access token cannot be read any more: paste the access token from Meta again.";
      return { ok: false, fieldErrors: { accessToken: message } };
    }
  }

  const version = input.graphApiVersion || null;
  let pixelName: string | null = null;
  if (!opts.skipValidation) {
    const res = await lookupPixel(deps.graph(version), input.pixelId, token);
    if (!res.ok) {
      const f = res.failure;
      return {
        ok: false,
        error: {
          title: f.info.title,
          fix: f.info.fix,
          code: f.code,
          fbtraceId: f.fbtraceId,
        },
      };
    }
    pixelName = res.name;
  }
  return { ok: true, token, pixelName, version };
}

/**
 * Validates the pixel and token with Meta, then stores the token encrypted. Nothing is stored when Meta says no:
 * the merchant gets Meta's error in plain words with the fix instead.
 */
export async function connectShop(
  db: Db,
  deps: ConnectDeps,
  shopDomain: string,
  raw: ConnectionInput,
  opts: { skipValidation?: boolean } = {},
): Promise<ConnectResult> {
  const parsed = connectionSchema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const input = parsed.data;
  // Connecting is not installing: an uninstalled shop stays uninstalled, and nothing is created before Meta says yes.
  const existing = await db.shop.findUnique({ where: { domain: shopDomain } });

  const checked = await checkConnection(deps, input, existing, opts);
  if (!checked.ok) return checked;
  const { token, pixelName, version } = checked;

  const sealed = encryptToken(deps.keyRing, token);
  const shop =
    existing ??
    (await db.shop.upsert({
      where: { domain: shopDomain },
      create: {
        domain: shopDomain,
        settings: asJson(DEFAULT_SETTINGS),
        ingestKey: newIngestKey(),
      },
      update: {},
    }));
  const testCodeChanged = (input.testEventCode || null) !== shop.testEventCode;
  await db.shop.update({
    where: { id: shop.id },
    data: {
      pixelId: input.pixelId,
      pixelName,
      tokenCiphertext: sealed.ciphertext,
      tokenKeyId: sealed.keyId,
      tokenLast4: token.slice(-4),
      connectedAt: new Date(),
      graphApiVersion: version,
      ...(testCodeChanged
        ? {
            testEventCode: input.testEventCode || null,
            testEventCodeSetAt: input.testEventCode ? new Date() : null,
          }
        : {}),
      // A fixed connection resumes sending.
      ...RESUMED,
      sendNotBefore: null,
    },
  });
  return { ok: true, pixelName, validated: !opts.skipValidation };
}

export type SettingsResult =
  | { ok: true; settings: ShopSettings; redecided: number }
  | { ok: false; fieldErrors: FieldErrors };

/** Saves validated settings; a consent change re-decides events not yet sent. */
export async function updateSettings(
  db: Db,
  outbox: Outbox,
  shop: Shop,
  input: unknown,
): Promise<SettingsResult> {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success)
    return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const before = parseSettings(shop.settings);
  await db.shop.update({
    where: { id: shop.id },
    // settingsSavedAt: the setup guide's consent step is done once the settings, consent policy included, were
    // saved (decisions 116).
    data: { settings: asJson(parsed.data), settingsSavedAt: new Date() },
  });
  const consentChanged =
    before.consentPolicy !== parsed.data.consentPolicy ||
    before.optInRegions.join() !== parsed.data.optInRegions.join() ||
    before.lduStates.join() !== parsed.data.lduStates.join();
  const redecided = consentChanged
    ? await redecidePending(outbox, {
        id: shop.id,
        settings: parsed.data,
        salesCountry: shop.salesCountry,
      })
    : 0;
  return { ok: true, settings: parsed.data, redecided };
}

export interface RotationReport {
  /** Meta tokens. */
  rotated: number;
  unchanged: number;
  /** Shopify's sessions (decisions 46): those stored in clear before encryption are sealed too. */
  sessions: { rotated: number; unchanged: number };
  /** Tokens no key of the ring opens: left as they are, each with the fix (messages never hold key material). */
  unreadable: {
    shop: string;
    token: "meta" | "shopify_session";
    problem: string;
  }[];
  /** Shops whose token_key pause ended. */
  resumed: string[];
}

/** How many of Shopify's sessions were sealed again, and those no key opens (app/sessionStorage.server.ts). */
export interface SessionRotation {
  rotated: number;
  unchanged: number;
  unreadable: { shop: string; problem: string }[];
}

/** Re-seals Shopify's sessions: their table is the session storage's (decisions 46, 56). */
export type ResealSessions = (ring: KeyRing) => Promise<SessionRotation>;

/**
 * Re-seals every stored token (Meta's and Shopify's sessions') under the current key, after TOKEN_ENCRYPTION_KEY was
 * rotated, then resumes the shops paused because their token's key was missing. A token that cannot be read is
 * reported, not fatal, so one lost key does not hold back the others.
 */
export async function rotateTokens(
  db: Db,
  ring: KeyRing,
  resealSessions: ResealSessions,
): Promise<RotationReport> {
  const report: RotationReport = {
    rotated: 0,
    unchanged: 0,
    sessions: { rotated: 0, unchanged: 0 },
    unreadable: [],
    resumed: [],
  };
  const shops = await db.shop.findMany({
    where: { tokenCiphertext: { not: null } },
  });
  await reseal(
    ring,
    shops.map((shop) => ({
      id: shop.id,
      shop: shop.domain,
      tokenCiphertext: shop.tokenCiphertext!,
      tokenKeyId: shop.tokenKeyId!,
    })),
    report,
    // Only if the token is still the one read: a Connect in the meantime keeps its new token.
    (row, data) =>
      db.shop.updateMany({
        where: { id: row.id, tokenCiphertext: row.tokenCiphertext },
        data,
      }),
  );
  // A shop's further datasets (decisions 130), the same way.
  const destinations = await db.destination.findMany({
    include: { shop: { select: { domain: true } } },
  });
  await reseal(
    ring,
    destinations.map((d) => ({ ...d, shop: d.shop.domain })),
    report,
    (row, data) =>
      db.destination.updateMany({
        where: { id: row.id, tokenCiphertext: row.tokenCiphertext },
        data,
      }),
  );

  const sessions = await resealSessions(ring);
  report.sessions = {
    rotated: sessions.rotated,
    unchanged: sessions.unchanged,
  };
  for (const { shop, problem } of sessions.unreadable)
    report.unreadable.push({ shop, token: "shopify_session", problem });
  report.resumed = await resumeReadableTokens(db, ring);
  return report;
}

interface SealedRow {
  id: string;
  shop: string;
  tokenCiphertext: string;
  tokenKeyId: string;
}

/** Re-seals each row's Meta token under the current key, counting into `report`; `write` stores a new seal. */
async function reseal(
  ring: KeyRing,
  rows: SealedRow[],
  report: RotationReport,
  write: (
    row: SealedRow,
    sealed: { tokenCiphertext: string; tokenKeyId: string },
  ) => Promise<{ count: number }>,
): Promise<void> {
  for (const row of rows) {
    let sealed;
    try {
      sealed = reencrypt(ring, {
        ciphertext: row.tokenCiphertext,
        keyId: row.tokenKeyId,
      });
    } catch (error) {
      if (!(error instanceof TokenDecryptError)) throw error;
      report.unreadable.push({
        shop: row.shop,
        token: "meta",
        problem: error.message,
      });
      continue;
    }
    if (!sealed) {
      report.unchanged++;
      continue;
    }
    const { count } = await write(row, {
      tokenCiphertext: sealed.ciphertext,
      tokenKeyId: sealed.keyId,
    });
    if (count) report.rotated++;
    else report.unchanged++;
  }
}

/**
 * Resumes the shops paused because their token's key was missing, now that this key ring opens the token (after
 * rotate-key, or a restart with the key in TOKEN_ENCRYPTION_KEYS_OLD; decisions 45). Returns their domains.
 */
export async function resumeReadableTokens(
  db: Db,
  ring: KeyRing,
): Promise<string[]> {
  const paused = await db.shop.findMany({
    where: { pausedReason: TOKEN_KEY_PAUSE, tokenCiphertext: { not: null } },
  });
  const resumed: string[] = [];
  for (const shop of paused) {
    try {
      decryptToken(ring, {
        ciphertext: shop.tokenCiphertext!,
        keyId: shop.tokenKeyId!,
      });
    } catch (error) {
      if (error instanceof TokenDecryptError) continue;
      throw error;
    }
    // Not if another pause (or another token) replaced it in the meantime.
    const { count } = await db.shop.updateMany({
      where: {
        id: shop.id,
        pausedReason: TOKEN_KEY_PAUSE,
        tokenCiphertext: shop.tokenCiphertext,
      },
      data: RESUMED,
    });
    if (count) resumed.push(shop.domain);
  }
  const pausedDestinations = await db.destination.findMany({
    where: { pausedReason: TOKEN_KEY_PAUSE },
    include: { shop: { select: { domain: true } } },
  });
  for (const d of pausedDestinations) {
    try {
      decryptToken(ring, {
        ciphertext: d.tokenCiphertext,
        keyId: d.tokenKeyId,
      });
    } catch (error) {
      if (error instanceof TokenDecryptError) continue;
      throw error;
    }
    const { count } = await db.destination.updateMany({
      where: {
        id: d.id,
        pausedReason: TOKEN_KEY_PAUSE,
        tokenCiphertext: d.tokenCiphertext,
      },
      data: RESUMED,
    });
    if (count) resumed.push(`${d.shop.domain} (dataset ${d.pixelId})`);
  }
  return resumed;
}
