import { z } from "zod";
import type { Db, Destination, Prisma, Shop } from "../db";
import { parseRoutingRule, routingRuleSchema } from "../reference";
import type { RoutingRule } from "../wire";
import { asJson, type Outbox } from "../outbox";
import {
  checkConnection,
  connectionSchema,
  fieldErrorsOf,
  RESUMED,
  type ConnectDeps,
  type ConnectResult,
} from "./shopConfig";
import { decryptToken, encryptToken, TokenDecryptError } from "./tokenCrypto";
import { lookupPixel } from "../meta";
import { pauseSending } from "./shops";

// The Meta datasets a shop sends to (decisions 130): its own connection (the Shop row's pixel and token, what
// Connect sets up) and the further destinations of the Destination table, each with a routing rule and its own
// pause, backoff and last delivery. The dispatcher sends each target's rows with the target's token.

/** One dataset a shop sends to. `id` is the shop's id for its own connection, the Destination's id otherwise. */
export interface SendTarget {
  id: string;
  own: boolean;
  shopId: string;
  pixelId: string | null;
  pixelName: string | null;
  tokenCiphertext: string | null;
  tokenKeyId: string | null;
  tokenLast4: string | null;
  testEventCode: string | null;
  testEventCodeSetAt: Date | null;
  graphApiVersion: string | null;
  rule: RoutingRule;
  pausedReason: string | null;
  pausedDetail: string | null;
  sendNotBefore: Date | null;
  lastDeliveryAt: Date | null;
  /** When the dataset and token were last saved: the daily check runs at once after (decisions 160). */
  connectedAt: Date | null;
}

/** The shop, and the dataset when it is not the shop's own: for the operator's log. */
export function describeTarget(
  shop: Pick<Shop, "domain">,
  target: Pick<SendTarget, "own" | "pixelId">,
): string {
  return target.own
    ? shop.domain
    : `${shop.domain} (dataset ${target.pixelId})`;
}

function ownTarget(shop: Shop): SendTarget {
  return {
    id: shop.id,
    own: true,
    shopId: shop.id,
    pixelId: shop.pixelId,
    pixelName: shop.pixelName,
    tokenCiphertext: shop.tokenCiphertext,
    tokenKeyId: shop.tokenKeyId,
    tokenLast4: shop.tokenLast4,
    testEventCode: shop.testEventCode,
    testEventCodeSetAt: shop.testEventCodeSetAt,
    graphApiVersion: shop.graphApiVersion,
    rule: parseRoutingRule(shop.routingRule),
    pausedReason: shop.pausedReason,
    pausedDetail: shop.pausedDetail,
    sendNotBefore: shop.sendNotBefore,
    lastDeliveryAt: shop.lastDeliveryAt,
    connectedAt: shop.connectedAt,
  };
}

function destinationTarget(d: Destination): SendTarget {
  return {
    ...d,
    own: false,
    rule: parseRoutingRule(d.rule),
  };
}

/** The order of a shop's destinations: as they were added. */
export const DESTINATION_ORDER = [
  { createdAt: "asc" },
  { id: "asc" },
] as const satisfies Prisma.DestinationOrderByWithRelationInput[];

/** The shop's datasets: its own connection first, then its destinations in the order they were added. */
export async function sendTargets(db: Db, shop: Shop): Promise<SendTarget[]> {
  const rows = await db.destination.findMany({
    where: { shopId: shop.id },
    orderBy: [...DESTINATION_ORDER],
  });
  return targetsOf(shop, rows);
}

/** sendTargets from a shop read with its destinations (in DESTINATION_ORDER): one query for the dispatcher's claim. */
export function targetsOf(
  shop: Shop,
  destinations: Destination[],
): SendTarget[] {
  return [ownTarget(shop), ...destinations.map(destinationTarget)];
}

/** Whether the shop's events must be routed: with one dataset taking all orders, every row goes to it as it is. */
export function routes(targets: readonly SendTarget[]): boolean {
  return targets.length > 1 || targets[0]?.rule.kind !== "all";
}

// --- The merchant's and the operator's changes (the admin's Destinations page, `ops destinations`).

const destinationSchema = connectionSchema.extend({
  rule: routingRuleSchema,
});
type DestinationInput = z.input<typeof destinationSchema>;

type DestinationResult =
  | { ok: true; id: string; pixelName: string | null; validated: boolean }
  | Exclude<ConnectResult, { ok: true }>;

/**
 * Adds a destination (`id` null) or changes one, after Meta's yes for its dataset and token, as Connect does. The
 * shop's own connection must exist first: it is the dataset Connect, the setup guide and the checks start from.
 */
export async function saveDestination(
  db: Db,
  deps: ConnectDeps,
  shop: Pick<Shop, "id" | "pixelId">,
  id: string | null,
  raw: DestinationInput,
  opts: { skipValidation?: boolean } = {},
): Promise<DestinationResult> {
  const parsed = destinationSchema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const input = parsed.data;
  if (!shop.pixelId)
    return {
      ok: false,
      fieldErrors: { form: "Connect the shop's Meta dataset first." },
    };
  const existing = id
    ? await db.destination.findFirst({ where: { id, shopId: shop.id } })
    : null;
  if (id && !existing)
    return { ok: false, fieldErrors: { form: "No such destination." } };
  const taken = await db.destination.findFirst({
    where: { shopId: shop.id, pixelId: input.pixelId, NOT: { id: id ?? "" } },
  });
  if (taken || shop.pixelId === input.pixelId)
    return {
      ok: false,
      fieldErrors: { pixelId: "The shop already sends to this dataset." },
    };

  const checked = await checkConnection(deps, input, existing, opts);
  if (!checked.ok) return checked;
  const sealed = encryptToken(deps.keyRing, checked.token);
  const testEventCode = input.testEventCode || null;
  const data = {
    pixelId: input.pixelId,
    pixelName: checked.pixelName,
    tokenCiphertext: sealed.ciphertext,
    tokenKeyId: sealed.keyId,
    tokenLast4: checked.token.slice(-4),
    graphApiVersion: checked.version,
    rule: asJson(input.rule),
    ...(testEventCode !== (existing?.testEventCode ?? null)
      ? {
          testEventCode,
          testEventCodeSetAt: testEventCode ? new Date() : null,
        }
      : {}),
    // A fixed connection resumes sending, and is checked with Meta at once (decisions 160).
    ...RESUMED,
    sendNotBefore: null,
    connectedAt: new Date(),
  };
  const saved = existing
    ? await db.destination.update({ where: { id: existing.id }, data })
    : await db.destination.create({ data: { ...data, shopId: shop.id } });
  return {
    ok: true,
    id: saved.id,
    pixelName: checked.pixelName,
    validated: !opts.skipValidation,
  };
}

/** The admin's "Test": whether Meta takes the dataset's saved token for its dataset now. */
export async function testTarget(
  deps: ConnectDeps,
  target: SendTarget,
): Promise<
  | { ok: true; pixelName: string | null }
  | { ok: false; title: string; fix: string }
> {
  if (!target.pixelId || !target.tokenCiphertext || !target.tokenKeyId)
    return {
      ok: false,
      title: "Not connected.",
      fix: "Save the dataset and its token first.",
    };
  let token: string;
  try {
    token = decryptToken(deps.keyRing, {
      ciphertext: target.tokenCiphertext,
      keyId: target.tokenKeyId,
    });
  } catch (error) {
    if (!(error instanceof TokenDecryptError)) throw error;
    return {
      ok: false,
      title: "The saved access token cannot be read any more.",
      fix: "Paste the access token from Meta again.",
    };
  }
  const res = await lookupPixel(
    deps.graph(target.graphApiVersion),
    target.pixelId,
    token,
  );
  return res.ok
    ? { ok: true, pixelName: res.name }
    : { ok: false, title: res.failure.info.title, fix: res.failure.info.fix };
}

/** The routing rule of the shop's own dataset (all orders until one is set). */
export async function saveOwnRule(
  db: Db,
  shopId: string,
  raw: unknown,
): Promise<
  | { ok: true; rule: RoutingRule }
  | { ok: false; fieldErrors: Record<string, string> }
> {
  const parsed = routingRuleSchema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const rule = parsed.data;
  await db.shop.update({
    where: { id: shopId },
    data: { routingRule: asJson(rule) },
  });
  return { ok: true, rule };
}

/**
 * Removes a destination. Its events not yet sent are kept back ("destination removed") first, in the outbox's
 * own write, so that no dispatcher sends them with the token that is going away.
 */
export async function removeDestination(
  db: Db,
  outbox: Outbox,
  shopId: string,
  id: string,
  now = new Date(),
): Promise<boolean> {
  const existing = await db.destination.findFirst({ where: { id, shopId } });
  if (!existing) return false;
  await outbox.dropDestination(shopId, id, now);
  await db.destination.delete({ where: { id } });
  return true;
}

/** Sending resumed by hand (`ops destinations resume`): what the merchant fixed outside the app. */
export async function resumeTarget(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
): Promise<void> {
  if (target.own)
    await db.shop.update({
      where: { id: target.id },
      data: { ...RESUMED, sendNotBefore: null },
    });
  else await updateTarget(db, target, { ...RESUMED, sendNotBefore: null });
}

/** Paused by hand (`ops destinations pause`) or by the dispatcher for what only the merchant can fix. */
export async function pauseTarget(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
  reason: string,
  detail: string,
  at: Date,
): Promise<void> {
  if (target.own) return pauseSending(db, target.id, reason, detail, at);
  await updateTarget(db, target, {
    pausedReason: reason,
    pausedDetail: detail.slice(0, 500),
    pausedAt: at,
  });
}

/**
 * Claims the pause notice of the dataset's current pause episode: true for the one caller that may send it. A fixed
 * connection clears the claim (RESUMED), so several dispatchers never send it twice (decisions 20, 162).
 */
export async function claimPauseNotice(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
  at: Date,
): Promise<boolean> {
  const where = {
    id: target.id,
    pausedReason: { not: null },
    pauseNotifiedAt: null,
  };
  const data = { pauseNotifiedAt: at };
  const claimed = target.own
    ? await db.shop.updateMany({ where, data })
    : await db.destination.updateMany({ where, data });
  return claimed.count > 0;
}

/** No request to this dataset before `until` (Meta's rate limit). */
export async function backOffTarget(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
  until: Date,
): Promise<void> {
  await updateTarget(db, target, { sendNotBefore: until });
}

/** The admin's "last delivery" of this dataset. */
export async function noteTargetDelivery(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
  at: Date,
): Promise<void> {
  await updateTarget(db, target, { lastDeliveryAt: at });
}

/** Columns a Shop and a Destination share, written on the target's row. */
async function updateTarget(
  db: Db,
  target: Pick<SendTarget, "id" | "own">,
  data: Pick<
    Prisma.DestinationUpdateManyMutationInput,
    | "pausedReason"
    | "pausedDetail"
    | "pausedAt"
    | "pauseNotifiedAt"
    | "sendNotBefore"
    | "lastDeliveryAt"
  >,
): Promise<void> {
  if (target.own) await db.shop.update({ where: { id: target.id }, data });
  // updateMany: a destination removed meanwhile is no error.
  else await db.destination.updateMany({ where: { id: target.id }, data });
}
