import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Db, Shop } from "./db";
import { lookupPixel, type GraphConfig } from "./graphClient";
import { decryptToken, encryptToken, type KeyRing } from "./tokenCrypto";
import { DEFAULT_SETTINGS, parseSettings, settingsSchema, type ShopSettings } from "./settings";
import { asJson, redecidePending } from "./outbox";

// A shop's Meta connection and settings, with the same validation for the admin UI and the ops CLI.

export const connectionSchema = z.object({
  pixelId: z
    .string()
    .trim()
    .regex(/^\d{6,20}$/, "Enter the dataset (pixel) ID: the 15–16 digit number shown in Meta Events Manager."),
  // Blank keeps the stored token: the field is write-only and never shows the token again.
  accessToken: z
    .string()
    .trim()
    .max(1024, "That access token is too long: copy it again from Meta.")
    .refine((t) => t === "" || /^[A-Za-z0-9_\-.|]{20,}$/.test(t), "That does not look like a Meta access token (it usually starts with EAA)."),
  testEventCode: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9]{0,40}$/, "Test event codes are letters and digits, like TEST12345.")
    .default(""),
  graphApiVersion: z
    .string()
    .trim()
    .regex(/^(v\d{1,2}\.\d)?$/, "Use the form v24.0, or leave blank for the app's default.")
    .default(""),
});
export type ConnectionInput = z.input<typeof connectionSchema>;

export type FieldErrors = Record<string, string>;

export type ConnectResult =
  | { ok: true; pixelName: string | null; validated: boolean }
  | { ok: false; fieldErrors: FieldErrors }
  | { ok: false; error: { title: string; fix: string; code: number | null; fbtraceId: string | null } };

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
export async function ensureShop(db: Db, domain: string, scope?: string | null): Promise<Shop> {
  return db.shop.upsert({
    where: { domain },
    create: { domain, scope: scope ?? null, settings: asJson(DEFAULT_SETTINGS), ingestKey: newIngestKey() },
    update: { uninstalledAt: null, ...(scope !== undefined ? { scope } : {}) },
  });
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
  if (!parsed.success) return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const input = parsed.data;
  // Connecting is not installing: an uninstalled shop stays uninstalled, and nothing is created before Meta says yes.
  const existing = await db.shop.findUnique({ where: { domain: shopDomain } });

  let token = input.accessToken;
  if (!token) {
    if (!existing?.tokenCiphertext) return { ok: false, fieldErrors: { accessToken: "Paste the access token from Meta." } };
    token = decryptToken(deps.keyRing, { ciphertext: existing.tokenCiphertext, keyId: existing.tokenKeyId! });
  }

  const version = input.graphApiVersion || null;
  let pixelName: string | null = null;
  if (!opts.skipValidation) {
    const res = await lookupPixel(deps.graph(version), input.pixelId, token);
    if (!res.ok) {
      const f = res.failure;
      return { ok: false, error: { title: f.info.title, fix: f.info.fix, code: f.code, fbtraceId: f.fbtraceId } };
    }
    pixelName = res.name;
  }

  const sealed = encryptToken(deps.keyRing, token);
  const shop =
    existing ??
    (await db.shop.upsert({
      where: { domain: shopDomain },
      create: { domain: shopDomain, settings: asJson(DEFAULT_SETTINGS), ingestKey: newIngestKey() },
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
      ...(testCodeChanged ? { testEventCode: input.testEventCode || null, testEventCodeSetAt: input.testEventCode ? new Date() : null } : {}),
      // A fixed connection resumes sending: the paused events are still pending.
      pausedReason: null,
      pausedDetail: null,
      pausedAt: null,
      pauseNotifiedAt: null,
      sendNotBefore: null,
    },
  });
  return { ok: true, pixelName, validated: !opts.skipValidation };
}

export type SettingsResult = { ok: true; settings: ShopSettings; redecided: number } | { ok: false; fieldErrors: FieldErrors };

/** Saves validated settings; a consent change re-decides events not yet sent. */
export async function updateSettings(db: Db, shop: Shop, input: unknown): Promise<SettingsResult> {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const before = parseSettings(shop.settings);
  await db.shop.update({ where: { id: shop.id }, data: { settings: asJson(parsed.data) } });
  const consentChanged =
    before.consentPolicy !== parsed.data.consentPolicy ||
    before.optInRegions.join() !== parsed.data.optInRegions.join() ||
    before.lduStates.join() !== parsed.data.lduStates.join();
  const redecided = consentChanged ? await redecidePending(db, shop.id) : 0;
  return { ok: true, settings: parsed.data, redecided };
}

/** Re-seals every stored token under the current key (after TOKEN_ENCRYPTION_KEY was rotated). */
export async function rotateTokens(db: Db, ring: KeyRing): Promise<{ rotated: number; unchanged: number }> {
  const shops = await db.shop.findMany({ where: { tokenCiphertext: { not: null } } });
  let rotated = 0;
  for (const shop of shops) {
    if (shop.tokenKeyId === ring.current.id) continue;
    const token = decryptToken(ring, { ciphertext: shop.tokenCiphertext!, keyId: shop.tokenKeyId! });
    const sealed = encryptToken(ring, token);
    await db.shop.update({ where: { id: shop.id }, data: { tokenCiphertext: sealed.ciphertext, tokenKeyId: sealed.keyId } });
    rotated++;
  }
  return { rotated, unchanged: shops.length - rotated };
}
