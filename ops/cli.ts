import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import prisma from "../app/db.server";
import { connectDeps, keyRing } from "../app/runtime.server";
import { connectShop, rotateTokens, updateSettings } from "../app/capi/shopConfig";
import { lookupPixel, graphConfigFromEnv } from "../app/capi/graphClient";
import { classifyGraphError } from "../app/capi/graphErrors";
import { decryptToken, maskToken, generateKey } from "../app/capi/tokenCrypto";
import { replay } from "../app/capi/outbox";
import { parseSettings, settingsSchema } from "../app/capi/settings";
import { OUTBOX_STATUSES, type OutboxStatus } from "../app/capi/types";

// `npm run ops -- <command>`: for the people who run the app for many shops. Output is JSON where a program may
// read it. Exit codes: 0 done, 1 the operation failed (Meta refused, nothing found), 2 bad arguments.

class UsageError extends Error {}
class OpsError extends Error {}

const HELP = `Usage: npm run ops -- <command> [options]

  configure-shop --shop S --pixel-id P --access-token T|- [--test-event-code C] [--graph-version vNN.0] [--skip-validation]
                 Validate the pixel and token with Meta, then store the token encrypted ("-" reads it from stdin).
  show-shop --shop S                 The shop's connection and settings as JSON (token masked).
  settings --shop S [--set key=value ...]
                 Show or change settings (values are JSON, e.g. --set consentPolicy='"strict"' --set browserPixel=false).
  rotate-key                         Re-encrypt every token under TOKEN_ENCRYPTION_KEY (old keys in TOKEN_ENCRYPTION_KEYS_OLD).
  generate-key                       Print a new random TOKEN_ENCRYPTION_KEY.
  list-events --shop S [--status STATUS] [--limit N]
  replay --shop S [--status failed|expired] [--since ISO-8601]
                 Re-queue events (same event ids) still inside Meta's window.
  doctor --shop S                    Token check with Meta, last delivery, backlog, last errors and the fix.
  data-request --shop S [--id REQUEST_ID]
                 The report of a customers/data_request (the latest when no id is given).
  sync-pixels [--shop S]             Create or update the web pixel of one shop or every installed shop.
`;

function out(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function shopDomain(domain: string | undefined): string {
  if (!domain) throw new UsageError("--shop is required (e.g. --shop my-shop.myshopify.com)");
  if (!/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(domain)) throw new UsageError(`--shop must be a *.myshopify.com domain, got "${domain}"`);
  return domain;
}

async function findShop(value: string | undefined) {
  const domain = shopDomain(value);
  const shop = await prisma.shop.findUnique({ where: { domain } });
  if (!shop) throw new OpsError(`No shop ${domain}: it has not installed the app (or was redacted).`);
  return shop;
}

function statusOf(value: string | undefined, allowed: readonly OutboxStatus[]): OutboxStatus | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--status must be one of ${allowed.join(", ")}`);
  return value as OutboxStatus;
}

function readToken(value: string | undefined): string {
  if (!value) throw new UsageError("--access-token is required (use - to read it from stdin)");
  return value === "-" ? readFileSync(0, "utf8").trim() : value;
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      shop: { type: "string" },
      "pixel-id": { type: "string" },
      "access-token": { type: "string" },
      "test-event-code": { type: "string" },
      "graph-version": { type: "string" },
      "skip-validation": { type: "boolean" },
      status: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
      id: { type: "string" },
      set: { type: "string", multiple: true },
    },
  });

  switch (command) {
    case "configure-shop": {
      // Validated before anything is stored: connectShop creates the shop row on first sight.
      const domain = shopDomain(values.shop);
      if (!values["pixel-id"]) throw new UsageError("--pixel-id is required");
      const result = await connectShop(
        prisma,
        connectDeps(),
        domain,
        {
          pixelId: values["pixel-id"],
          accessToken: readToken(values["access-token"]),
          testEventCode: values["test-event-code"] ?? "",
          graphApiVersion: values["graph-version"] ?? "",
        },
        { skipValidation: values["skip-validation"] },
      );
      if (!result.ok) {
        if ("fieldErrors" in result) throw new UsageError(Object.entries(result.fieldErrors).map(([k, v]) => `${k}: ${v}`).join("\n"));
        throw new OpsError(`${result.error.title}\n${result.error.fix}${result.error.fbtraceId ? `\nMeta reference: ${result.error.fbtraceId}` : ""}`);
      }
      out({ ok: true, shop: domain, pixelName: result.pixelName, validatedWithMeta: result.validated });
      return;
    }
    case "show-shop": {
      const shop = await findShop(values.shop);
      out({
        domain: shop.domain,
        installed: !shop.uninstalledAt,
        pixelId: shop.pixelId,
        pixelName: shop.pixelName,
        accessToken: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
        tokenKeyId: shop.tokenKeyId,
        testEventCode: shop.testEventCode,
        graphApiVersion: shop.graphApiVersion,
        paused: shop.pausedReason ? { reason: shop.pausedReason, detail: shop.pausedDetail, since: shop.pausedAt } : null,
        lastDeliveryAt: shop.lastDeliveryAt,
        webPixel: { id: shop.webPixelId, syncedAt: shop.webPixelSyncedAt, error: shop.webPixelError },
        settings: parseSettings(shop.settings),
      });
      return;
    }
    case "settings": {
      const shop = await findShop(values.shop);
      const current = parseSettings(shop.settings) as Record<string, unknown>;
      if (!values.set?.length) return out(current);
      const next = { ...current };
      for (const pair of values.set) {
        const eq = pair.indexOf("=");
        if (eq < 1) throw new UsageError(`--set takes key=value, got "${pair}"`);
        const key = pair.slice(0, eq);
        if (!(key in settingsSchema.shape)) throw new UsageError(`unknown setting "${key}" (known: ${Object.keys(settingsSchema.shape).join(", ")})`);
        const raw = pair.slice(eq + 1);
        try {
          next[key] = JSON.parse(raw);
        } catch {
          next[key] = raw;
        }
      }
      const res = await updateSettings(prisma, shop, next);
      if (!res.ok) throw new UsageError(Object.entries(res.fieldErrors).map(([k, v]) => `${k}: ${v}`).join("\n"));
      out({ ok: true, settings: res.settings, eventsRedecided: res.redecided });
      return;
    }
    case "rotate-key": {
      out({ ok: true, currentKeyId: keyRing().current.id, ...(await rotateTokens(prisma, keyRing())) });
      return;
    }
    case "generate-key":
      console.log(generateKey());
      return;
    case "list-events": {
      const shop = await findShop(values.shop);
      const limit = values.limit ? Number(values.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError("--limit must be a whole number from 1 to 1000");
      const status = statusOf(values.status, OUTBOX_STATUSES);
      const rows = await prisma.outboxEvent.findMany({
        where: { shopId: shop.id, ...(status ? { status } : {}) },
        orderBy: { receivedAt: "desc" },
        take: limit,
        select: {
          eventName: true, eventId: true, orderName: true, status: true, suppressReason: true, attempts: true,
          lastErrorCode: true, lastErrorSubcode: true, lastErrorMessage: true, lastFbtraceId: true, receivedAt: true, sentAt: true,
        },
      });
      out(rows);
      return;
    }
    case "replay": {
      const shop = await findShop(values.shop);
      const status = statusOf(values.status ?? "failed", ["failed", "expired"]);
      const since = values.since ? new Date(values.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since must be an ISO-8601 date, got "${values.since}"`);
      const res = await replay(prisma, { shopId: shop.id, statuses: [status!], since });
      out({ ok: true, requeued: res.requeued, notReplayable: res.outsideWindow, note: res.outsideWindow ? "events older than Meta's window cannot be sent any more" : undefined });
      return;
    }
    case "doctor": {
      const shop = await findShop(values.shop);
      const report: Record<string, unknown> = { shop: shop.domain, installed: !shop.uninstalledAt };
      if (!shop.pixelId || !shop.tokenCiphertext) {
        report.connection = { ok: false, fix: "Not connected: run configure-shop, or open the app's Connect page." };
      } else {
        const token = decryptToken(keyRing(), { ciphertext: shop.tokenCiphertext, keyId: shop.tokenKeyId! });
        const check = await lookupPixel(graphConfigFromEnv(process.env, { version: shop.graphApiVersion }), shop.pixelId, token);
        report.connection = check.ok
          ? { ok: true, pixel: `${check.name} (${check.id})` }
          : { ok: false, problem: check.failure.info.title, fix: check.failure.info.fix, fbtraceId: check.failure.fbtraceId };
      }
      const counts = await prisma.outboxEvent.groupBy({ by: ["status"], where: { shopId: shop.id }, _count: { _all: true } });
      report.events = Object.fromEntries(counts.map((c: { status: string; _count: { _all: number } }) => [c.status, c._count._all]));
      report.lastDeliveryAt = shop.lastDeliveryAt;
      report.paused = shop.pausedReason ? { reason: shop.pausedReason, detail: shop.pausedDetail, since: shop.pausedAt } : null;
      const errors = await prisma.outboxEvent.findMany({
        // An event delivered since (after a retry or a replay) is no longer a problem.
        where: { shopId: shop.id, lastErrorMessage: { not: null }, status: { not: "sent" } },
        orderBy: { updatedAt: "desc" },
        take: 5,
        select: { eventId: true, status: true, lastErrorCode: true, lastErrorSubcode: true, lastErrorMessage: true, lastFbtraceId: true },
      });
      report.lastErrors = errors.map((e: (typeof errors)[number]) => ({
        ...e,
        // Meta's code says what to do; the app's own reasons (e.g. expired before sending) are their message.
        fix: e.lastErrorCode === null ? null : classifyGraphError({ code: e.lastErrorCode, subcode: e.lastErrorSubcode ?? undefined }).fix,
      }));
      out(report);
      if (report.connection && !(report.connection as { ok: boolean }).ok) process.exitCode = 1;
      return;
    }
    case "data-request": {
      const shop = await findShop(values.shop);
      const request = await prisma.dataRequest.findFirst({
        where: { shopId: shop.id, ...(values.id ? { requestId: values.id } : {}) },
        orderBy: { createdAt: "desc" },
      });
      if (!request) throw new OpsError(values.id ? `No data request ${values.id} for ${shop.domain}.` : `No data request recorded for ${shop.domain}.`);
      out({ requestId: request.requestId, createdAt: request.createdAt, report: request.report });
      return;
    }
    case "sync-pixels": {
      const { unauthenticated } = await import("../app/shopify.server");
      const { syncWebPixel } = await import("../app/webPixel.server");
      const shops = values.shop ? [await findShop(values.shop)] : await prisma.shop.findMany({ where: { uninstalledAt: null } });
      const results = [];
      for (const shop of shops) {
        try {
          const { admin } = await unauthenticated.admin(shop.domain);
          results.push({ shop: shop.domain, ...(await syncWebPixel(shop, admin.graphql)) });
        } catch (err) {
          results.push({ shop: shop.domain, ok: false, error: (err as Error).message });
        }
      }
      out(results);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
      return;
    }
    case undefined:
    case "help":
    case "--help":
      console.log(HELP);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

run(process.argv.slice(2))
  .catch((err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${(err as Error).message}\n\n${HELP}`);
      process.exitCode = 2;
    } else if (err instanceof OpsError) {
      console.error(`error: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  })
  .finally(() => prisma.$disconnect());
