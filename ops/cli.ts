import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import prisma, { disconnect, outbox } from "../app/db.server";
import { checkDeps, connectDeps, keyRing } from "../app/runtime.server";
import {
  connectShop,
  pauseTarget,
  removeDestination,
  resumeTarget,
  saveDestination,
  saveOwnRule,
  sendTargets,
  type SendTarget,
  rotateTokens,
  updateSettings,
  decryptToken,
  maskToken,
  generateKey,
} from "../app/core/shops";
import {
  lookupPixel,
  graphConfigFromEnv,
  classifyGraphError,
} from "../app/core/meta";
import { OUTBOX_STATUSES, type OutboxStatus } from "../app/core/outbox";
import { parseSettings, settingsSchema } from "../app/core/reference";
import { syncWebPixel } from "../app/webPixel.server";
import { resealSessions } from "../app/sessionStorage.server";
import { runReconcile } from "../app/core/reconcile";
import { recordedPlan } from "../app/core/plans";
import { backlogByDataset } from "../app/core/insights";
import {
  checkNow,
  readDatasetChecks,
  type DatasetCheckView,
} from "../app/core/checks";

// `npm run ops -- <command>`: for the people who run the app for many shops. A command's result is JSON on stdout
// (generate-key: the key alone); an error is one JSON line on stderr, its last, `{"error": "…", "code": 1|2}`.
// Exit codes: 0 done, 1 the operation failed (Meta refused, nothing found), 2 bad arguments or no command.

class UsageError extends Error {}

const HELP = `Usage: npm run ops -- <command> [options]

  configure-shop --shop S --pixel-id P --access-token T|- [--test-event-code C] [--graph-version vNN.0] [--skip-validation]
                 Validate the pixel and token with Meta, then store the token encrypted ("-" reads it from stdin).
  show-shop --shop S                 The shop's connection, settings and plan as JSON (token masked).
  settings --shop S [--set key=value ...]
                 Show or change settings (values are JSON, e.g. --set consentPolicy='"strict"' --set browserPixel=false).
  rotate-key                         Re-encrypt every token (Meta's, Shopify's sessions') under TOKEN_ENCRYPTION_KEY (old keys
                                     in TOKEN_ENCRYPTION_KEYS_OLD); resume shops paused because their token's key was missing.
  generate-key                       Print a new random TOKEN_ENCRYPTION_KEY.
  list-events --shop S [--status STATUS] [--limit N]
  replay --shop S [--status failed|expired] [--since ISO-8601]
                 Re-queue events (same event ids) still inside Meta's window.
  doctor --shop S                    Token check with Meta, last delivery, backlog, last errors and the fix.
  data-request --shop S [--id REQUEST_ID]
                 The report of a customers/data_request (the latest when no id is given).
  sync-pixels [--shop S]             Create or update the web pixel of one shop or every installed shop.
  reconcile --shop S [--since ISO-8601]
                 Read the shop's orders back from Shopify now and send those whose webhook never arrived (same event
                 ids: nothing goes twice). Without --since, from the shop's watermark.
  destinations list --shop S         The shop's Meta datasets (its own, id "own", then its destinations) with their
                                     routing rule, pause, last delivery, backlog and last daily check (tokens masked).
  destinations check --shop S --id D Run the dataset's daily check now: the token's validity and expiry, another
                                     sender, Meta's quality verdict (as the Destinations page's "Check now").
  destinations add --shop S --pixel-id P --access-token T|- --rule JSON [--test-event-code C] [--graph-version vNN.0]
                   [--skip-validation]
                 Validate the dataset and token with Meta, then send the events the rule takes there too. Rules:
                 '{"kind":"all"}', '{"kind":"country","values":["DE","AT"]}', currency, channel (online_store, pos,
                 draft), '{"kind":"market","values":["canada"],"countries":["CA"]}'.
  destinations edit --shop S --id D [--pixel-id P] [--access-token T|-] [--rule JSON] [--test-event-code C]
                   [--graph-version vNN.0] [--skip-validation]
                 Change a destination (a blank token keeps the stored one); with --id own, the own dataset's rule only.
  destinations pause|resume --shop S --id D
  destinations remove --shop S --id D
                 Remove a destination; its events not sent yet are kept back ("destination removed").
`;

// stdout is the result alone: whatever else logs there (Shopify's library prints its version line as it is
// configured) goes to stderr, so that a program can read stdout as JSON.
const print = (text: string) => process.stdout.write(`${text}\n`);
console.log = console.error;

function out(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

function shopDomain(domain: string | undefined): string {
  if (!domain)
    throw new UsageError(
      "--shop is required (e.g. --shop my-shop.myshopify.com)",
    );
  if (!/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(domain))
    throw new UsageError(
      `--shop must be a *.myshopify.com domain, got "${domain}"`,
    );
  return domain;
}

async function findShop(value: string | undefined) {
  const domain = shopDomain(value);
  const shop = await prisma.shop.findUnique({ where: { domain } });
  if (!shop)
    throw new Error(
      `No shop ${domain}: it has not installed the app (or was redacted).`,
    );
  return shop;
}

function statusOf(
  value: string | undefined,
  allowed: readonly OutboxStatus[],
): OutboxStatus | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--status must be one of ${allowed.join(", ")}`);
  return value as OutboxStatus;
}

function sinceOf(value: string | undefined): Date | undefined {
  const since = value ? new Date(value) : undefined;
  if (since && Number.isNaN(since.getTime()))
    throw new UsageError(`--since must be an ISO-8601 date, got "${value}"`);
  return since;
}

function readToken(value: string | undefined): string {
  if (!value)
    throw new UsageError(
      "--access-token is required (use - to read it from stdin)",
    );
  return value === "-" ? readFileSync(0, "utf8").trim() : value;
}

/** The `--rule` JSON (checked by the core's schema when saved). */
function ruleOf(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new UsageError(
      `--rule must be JSON, e.g. '{"kind":"country","values":["DE"]}'`,
    );
  }
}

/** A save's refusal as the CLI's error: the fields at fault (exit 2) or Meta's answer (exit 1). */
function refused(
  result:
    | { fieldErrors: Record<string, string> }
    | { error: { title: string; fix: string; fbtraceId: string | null } },
): Error {
  if ("fieldErrors" in result)
    return new UsageError(
      Object.entries(result.fieldErrors)
        .map(([k, v]) => `${k}: ${v}`)
        .join("\n"),
    );
  return new Error(
    `${result.error.title}\n${result.error.fix}${result.error.fbtraceId ? `\nMeta reference: ${result.error.fbtraceId}` : ""}`,
  );
}

/**
 * A dataset as `destinations list` shows it: "own" for the shop's own connection, the token masked, and Meta's view
 * of it at its last daily check (decisions 160; null before the first).
 */
function showTarget(
  target: SendTarget,
  backlog: number,
  check: DatasetCheckView | null,
) {
  return {
    id: target.own ? "own" : target.id,
    pixelId: target.pixelId,
    pixelName: target.pixelName,
    accessToken: target.tokenCiphertext ? maskToken(target.tokenLast4) : null,
    testEventCode: target.testEventCode,
    graphApiVersion: target.graphApiVersion,
    rule: target.rule,
    paused: target.pausedReason
      ? { reason: target.pausedReason, detail: target.pausedDetail }
      : null,
    sendNotBefore: target.sendNotBefore,
    lastDeliveryAt: target.lastDeliveryAt,
    backlog,
    check,
  };
}

async function destinations(
  sub: string | undefined,
  values: Record<string, string | boolean | string[] | undefined>,
): Promise<void> {
  const shop = await findShop(values.shop as string | undefined);
  const targets = await sendTargets(prisma, shop);
  const target = () => {
    const id = values.id as string | undefined;
    if (!id)
      throw new UsageError("--id is required (destinations list shows them)");
    const found = targets.find((t) => (id === "own" ? t.own : t.id === id));
    if (!found) throw new Error(`No destination ${id} for ${shop.domain}.`);
    return found;
  };
  switch (sub) {
    case "list": {
      const backlog = await backlogByDataset(prisma, shop.id);
      const checks = await readDatasetChecks(prisma, shop.id);
      return out(
        targets.map((t) =>
          showTarget(
            t,
            backlog.get(t.id) ?? 0,
            (t.pixelId && checks.get(t.pixelId)) || null,
          ),
        ),
      );
    }
    case "check": {
      // The daily check of one dataset, now (as the Destinations page's "Check now"); its e-mail warnings included.
      const t = target();
      const check = await checkNow(checkDeps(), shop.id, t.id);
      if (!check)
        throw new Error(
          `Destination ${values.id} of ${shop.domain} has no dataset id or token to check.`,
        );
      return out({ ok: true, id: values.id, check });
    }
    case "add":
    case "edit": {
      const existing = sub === "edit" ? target() : null;
      if (existing?.own) {
        const rule = ruleOf(values.rule as string | undefined);
        if (rule === undefined)
          throw new UsageError(
            "--rule is required for the own dataset (its connection is changed by configure-shop)",
          );
        const saved = await saveOwnRule(prisma, shop.id, rule);
        if (!saved.ok) throw refused(saved);
        return out({ ok: true, id: "own", rule: saved.rule });
      }
      const pixelId =
        (values["pixel-id"] as string | undefined) ?? existing?.pixelId;
      if (!pixelId) throw new UsageError("--pixel-id is required");
      const rule = ruleOf(values.rule as string | undefined) ?? existing?.rule;
      if (rule === undefined) throw new UsageError("--rule is required");
      const result = await saveDestination(
        prisma,
        connectDeps(),
        shop,
        existing?.id ?? null,
        {
          pixelId,
          accessToken:
            existing && values["access-token"] === undefined
              ? ""
              : readToken(values["access-token"] as string | undefined),
          testEventCode:
            (values["test-event-code"] as string | undefined) ??
            existing?.testEventCode ??
            "",
          graphApiVersion:
            (values["graph-version"] as string | undefined) ??
            existing?.graphApiVersion ??
            "",
          rule: rule as never,
        },
        { skipValidation: values["skip-validation"] === true },
      );
      if (!result.ok) throw refused(result);
      return out({
        ok: true,
        id: result.id,
        pixelName: result.pixelName,
        validatedWithMeta: result.validated,
      });
    }
    case "pause": {
      const t = target();
      await pauseTarget(
        prisma,
        t,
        "operator",
        "Paused with the ops CLI.",
        new Date(),
      );
      return out({ ok: true, id: values.id, paused: true });
    }
    case "resume": {
      await resumeTarget(prisma, target());
      return out({ ok: true, id: values.id, paused: false });
    }
    case "remove": {
      const t = target();
      if (t.own)
        throw new UsageError(
          "The own dataset is the shop's connection: change it with configure-shop, or route it with destinations edit --id own.",
        );
      await removeDestination(prisma, outbox(), shop.id, t.id);
      return out({ ok: true, id: t.id, removed: true });
    }
    default:
      throw new UsageError(
        "destinations takes list, check, add, edit, pause, resume or remove",
      );
  }
}

async function run(argv: string[]): Promise<void> {
  // `destinations <sub>`: the sub-command comes before the options.
  const [command, ...afterCommand] = argv;
  const sub = command === "destinations" ? afterCommand[0] : undefined;
  const rest =
    command === "destinations" ? afterCommand.slice(1) : afterCommand;
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
      rule: { type: "string" },
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
      if (!result.ok) throw refused(result);
      out({
        ok: true,
        shop: domain,
        pixelName: result.pixelName,
        validatedWithMeta: result.validated,
      });
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
        paused: shop.pausedReason
          ? {
              reason: shop.pausedReason,
              detail: shop.pausedDetail,
              since: shop.pausedAt,
            }
          : null,
        lastDeliveryAt: shop.lastDeliveryAt,
        webPixel: {
          id: shop.webPixelId,
          syncedAt: shop.webPixelSyncedAt,
          error: shop.webPixelError,
        },
        settings: parseSettings(shop.settings),
        // As Shopify's subscription webhooks last said; null until one arrives (decisions 141).
        plan: await recordedPlan(prisma, shop.id).then(
          (recorded) =>
            recorded && { name: recorded.plan.name, since: recorded.since },
        ),
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
        if (eq < 1)
          throw new UsageError(`--set takes key=value, got "${pair}"`);
        const key = pair.slice(0, eq);
        if (!(key in settingsSchema.shape))
          throw new UsageError(
            `unknown setting "${key}" (known: ${Object.keys(settingsSchema.shape).join(", ")})`,
          );
        const raw = pair.slice(eq + 1);
        try {
          next[key] = JSON.parse(raw);
        } catch {
          next[key] = raw;
        }
      }
      const res = await updateSettings(prisma, outbox(), shop, next);
      if (!res.ok)
        throw new UsageError(
          Object.entries(res.fieldErrors)
            .map(([k, v]) => `${k}: ${v}`)
            .join("\n"),
        );
      out({ ok: true, settings: res.settings, eventsRedecided: res.redecided });
      return;
    }
    case "rotate-key": {
      const report = await rotateTokens(prisma, keyRing(), (ring) =>
        resealSessions(prisma, ring),
      );
      out({
        ok: report.unreadable.length === 0,
        currentKeyId: keyRing().current.id,
        ...report,
      });
      if (report.unreadable.length) {
        const lines = report.unreadable.map(
          (u) => `${u.shop} (${u.token}): ${u.problem}`,
        );
        throw new Error(
          `${lines.length} token(s) could not be read and were left as they are:\n${lines.join("\n")}`,
        );
      }
      return;
    }
    case "generate-key":
      print(generateKey());
      return;
    case "list-events": {
      const shop = await findShop(values.shop);
      const limit = values.limit ? Number(values.limit) : 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new UsageError("--limit must be a whole number from 1 to 1000");
      const status = statusOf(values.status, OUTBOX_STATUSES);
      const rows = await prisma.outboxEvent.findMany({
        where: { shopId: shop.id, ...(status ? { status } : {}) },
        orderBy: { receivedAt: "desc" },
        take: limit,
        select: {
          eventName: true,
          eventId: true,
          orderName: true,
          status: true,
          suppressReason: true,
          attempts: true,
          lastErrorCode: true,
          lastErrorSubcode: true,
          lastErrorMessage: true,
          lastFbtraceId: true,
          receivedAt: true,
          sentAt: true,
        },
      });
      out(rows);
      return;
    }
    case "replay": {
      const shop = await findShop(values.shop);
      const status = statusOf(values.status ?? "failed", ["failed", "expired"]);
      const since = sinceOf(values.since);
      const res = await outbox().replay({
        shopId: shop.id,
        statuses: [status!],
        since,
      });
      out({
        ok: true,
        requeued: res.requeued,
        notReplayable: res.outsideWindow,
        note: res.outsideWindow
          ? "events older than Meta's window cannot be sent any more"
          : undefined,
      });
      return;
    }
    case "doctor": {
      const shop = await findShop(values.shop);
      const report: Record<string, unknown> = {
        shop: shop.domain,
        installed: !shop.uninstalledAt,
      };
      if (!shop.pixelId || !shop.tokenCiphertext) {
        report.connection = {
          ok: false,
          fix: "Not connected: run configure-shop, or open the app's Connect page.",
        };
      } else {
        const token = decryptToken(keyRing(), {
          ciphertext: shop.tokenCiphertext,
          keyId: shop.tokenKeyId!,
        });
        const check = await lookupPixel(
          graphConfigFromEnv(process.env, { version: shop.graphApiVersion }),
          shop.pixelId,
          token,
        );
        report.connection = check.ok
          ? { ok: true, pixel: `${check.name} (${check.id})` }
          : {
              ok: false,
              problem: check.failure.info.title,
              fix: check.failure.info.fix,
              fbtraceId: check.failure.fbtraceId,
            };
      }
      const counts = await prisma.outboxEvent.groupBy({
        by: ["status"],
        where: { shopId: shop.id },
        _count: { _all: true },
      });
      report.events = Object.fromEntries(
        counts.map((c: { status: string; _count: { _all: number } }) => [
          c.status,
          c._count._all,
        ]),
      );
      report.lastDeliveryAt = shop.lastDeliveryAt;
      report.paused = shop.pausedReason
        ? {
            reason: shop.pausedReason,
            detail: shop.pausedDetail,
            since: shop.pausedAt,
          }
        : null;
      const errors = await prisma.outboxEvent.findMany({
        // An event delivered since (after a retry or a replay) is no longer a problem.
        where: {
          shopId: shop.id,
          lastErrorMessage: { not: null },
          status: { not: "sent" },
        },
        orderBy: { updatedAt: "desc" },
        take: 5,
        select: {
          eventId: true,
          status: true,
          lastErrorCode: true,
          lastErrorSubcode: true,
          lastErrorMessage: true,
          lastFbtraceId: true,
        },
      });
      report.lastErrors = errors.map((e: (typeof errors)[number]) => ({
        ...e,
        // Meta's code says what to do; the app's own reasons (e.g. expired before sending) are their message.
        fix:
          e.lastErrorCode === null
            ? null
            : classifyGraphError({
                code: e.lastErrorCode,
                subcode: e.lastErrorSubcode ?? undefined,
              }).fix,
      }));
      out(report);
      if (report.connection && !(report.connection as { ok: boolean }).ok)
        process.exitCode = 1;
      return;
    }
    case "data-request": {
      const shop = await findShop(values.shop);
      const request = await prisma.dataRequest.findFirst({
        where: {
          shopId: shop.id,
          ...(values.id ? { requestId: values.id } : {}),
        },
        orderBy: { createdAt: "desc" },
      });
      if (!request)
        throw new Error(
          values.id
            ? `No data request ${values.id} for ${shop.domain}.`
            : `No data request recorded for ${shop.domain}.`,
        );
      out({
        requestId: request.requestId,
        createdAt: request.createdAt,
        report: request.report,
      });
      return;
    }
    case "sync-pixels": {
      // Shopify's configuration is made as it is imported and needs the app's SHOPIFY_* settings: only here.
      const { unauthenticated } = await import("../app/shopify.server");
      const shops = values.shop
        ? [await findShop(values.shop)]
        : await prisma.shop.findMany({ where: { uninstalledAt: null } });
      const results = [];
      for (const shop of shops) {
        try {
          const { admin } = await unauthenticated.admin(shop.domain);
          results.push({
            shop: shop.domain,
            ...(await syncWebPixel(shop, admin.graphql)),
          });
        } catch (err) {
          results.push({
            shop: shop.domain,
            ok: false,
            error: (err as Error).message,
          });
        }
      }
      out(results);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
      return;
    }
    case "reconcile": {
      const shop = await findShop(values.shop);
      const since = sinceOf(values.since);
      // Reads the offline session with Shopify's library's storage: only here.
      const { adminClientFor, reconcileDeps } =
        await import("../app/reconcile.server");
      // Leased and recorded on the shop as the scheduler's runs are (decisions 81).
      const report = await runReconcile(reconcileDeps(), adminClientFor, shop, {
        since,
      });
      if (!report)
        throw new Error(
          `Another process is reconciling ${shop.domain} now (until ${shop.reconcileLeaseUntil?.toISOString() ?? "its lease ends"}): try again later.`,
        );
      out(report);
      return;
    }
    case "destinations":
      return destinations(sub, values);
    case "help":
    case "--help":
      print(HELP);
      return;
    case undefined:
      process.stderr.write(HELP);
      process.exitCode = 2;
      return;
    default:
      throw new UsageError(
        `unknown command "${command}" (npm run ops -- help lists them)`,
      );
  }
}

run(process.argv.slice(2))
  .catch((err: unknown) => {
    const usage =
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    const code = usage ? 2 : 1;
    process.stderr.write(
      `${JSON.stringify({ error: (err as Error).message, code })}\n`,
    );
    process.exitCode = code;
  })
  .finally(disconnect);
