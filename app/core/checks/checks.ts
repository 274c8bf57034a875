import type { DatasetCheck, Db, Prisma, Shop } from "../db";
import {
  datasetQuality,
  type EventQuality,
  type GraphConfig,
  type GraphFailure,
} from "../meta";
import {
  decryptToken,
  describeTarget,
  DESTINATION_ORDER,
  sendTargets,
  targetsOf,
  type KeyRing,
  type SendTarget,
} from "../shops";
import { fixFor, type Mailer } from "../delivery";
import { parseSettings } from "../reference";
import {
  checkToken,
  tokenWarningMessage,
  warningKey,
  type TokenStatus,
  type TokenVerdict,
} from "./tokenCheck";
import { compareSenders, type SenderFlag } from "./senders";

// Meta's view of each connected dataset, the shop's own and each further destination, read back once a day and on
// demand (decisions 126-129, 160), and the one writer of the DatasetCheck table. A check never changes sending: the
// dispatcher still pauses on a failed send.

export interface CheckDeps {
  db: Db;
  keyRing: KeyRing;
  /** The Graph API of a dataset (its version override). */
  graph: (version: string | null) => GraphConfig;
  /** null: SMTP_URL unset, warnings show in the admin only. */
  mailer: Mailer | null;
  adminUrl: (domain: string) => string;
  log?: (line: string) => void;
}

const CHECK_EVERY_MS = 86_400_000;
/** Pauses whose own notice already told the merchant (decisions 20): no second e-mail for the same problem. */
const NOTIFIED_PAUSES = new Set(["token", "permission", "wrong_pixel"]);

/** What the admin shows of a dataset's last check. */
export interface DatasetCheckView {
  checkedAt: Date;
  tokenStatus: TokenStatus;
  tokenExpiresAt: Date | null;
  tokenDetail: string | null;
  senders: SenderFlag[];
  sendersError: string | null;
  quality: EventQuality[];
  qualityError: string | null;
  qualityAt: Date | null;
}

/** A dataset that can be checked: it has its id and a token. */
type Checkable = SendTarget & { pixelId: string; tokenCiphertext: string };

function checkable(target: SendTarget): target is Checkable {
  return Boolean(target.pixelId && target.tokenCiphertext);
}

/**
 * Runs the check of every connected dataset (each shop's own and its destinations) whose last one is a day old, or
 * older than its connection.
 */
export async function runDueChecks(deps: CheckDeps, now = new Date()) {
  const shops = await deps.db.shop.findMany({
    where: {
      uninstalledAt: null,
      OR: [
        { pixelId: { not: null }, tokenCiphertext: { not: null } },
        { destinations: { some: {} } },
      ],
    },
    include: {
      destinations: { orderBy: [...DESTINATION_ORDER] },
      datasetChecks: { select: { pixelId: true, checkedAt: true } },
    },
  });
  let ran = 0;
  for (const { destinations, datasetChecks, ...shop } of shops) {
    for (const target of targetsOf(shop, destinations).filter(checkable)) {
      const last = datasetChecks.find((c) => c.pixelId === target.pixelId);
      const due =
        !last ||
        last.checkedAt.getTime() <= now.getTime() - CHECK_EVERY_MS ||
        (target.connectedAt !== null && last.checkedAt < target.connectedAt);
      if (
        !due ||
        !(await claim(deps.db, shop.id, target.pixelId, last?.checkedAt, now))
      )
        continue;
      await checkDataset(deps, shop, target, now).catch((err: Error) =>
        deps.log?.(`[checks] ${describeTarget(shop, target)}: ${err.message}`),
      );
      ran++;
    }
  }
  return ran;
}

/**
 * The admin's "Check now" of one dataset (`targetId`: the shop's id for its own, a Destination's id otherwise): runs
 * at once, whatever the last check's age. null: no such connected dataset.
 */
export async function checkNow(
  deps: CheckDeps,
  shopId: string,
  targetId = shopId,
  now = new Date(),
): Promise<DatasetCheckView | null> {
  const shop = await deps.db.shop.findUnique({ where: { id: shopId } });
  if (!shop) return null;
  const target = (await sendTargets(deps.db, shop)).find(
    (t) => t.id === targetId,
  );
  if (!target || !checkable(target)) return null;
  const { pixelId } = target;
  await deps.db.datasetCheck.upsert({
    where: { shopId_pixelId: { shopId, pixelId } },
    create: { shopId, pixelId, checkedAt: now, tokenStatus: "unknown" },
    update: { checkedAt: now },
  });
  await checkDataset(deps, shop, target, now);
  return readDatasetCheck(deps.db, shopId, pixelId);
}

/** The last check of one of the shop's datasets (DatasetCheck is keyed by shop and dataset id, decisions 129). */
export async function readDatasetCheck(
  db: Db,
  shopId: string,
  pixelId: string | null,
): Promise<DatasetCheckView | null> {
  if (!pixelId) return null;
  const row = await db.datasetCheck.findUnique({
    where: { shopId_pixelId: { shopId, pixelId } },
  });
  return row && toView(row);
}

/** The last check of each of the shop's datasets, by dataset id (the Destinations page). */
export async function readDatasetChecks(
  db: Db,
  shopId: string,
): Promise<Map<string, DatasetCheckView>> {
  const rows = await db.datasetCheck.findMany({ where: { shopId } });
  return new Map(rows.map((row) => [row.pixelId, toView(row)]));
}

function toView(row: DatasetCheck): DatasetCheckView {
  return {
    checkedAt: row.checkedAt,
    tokenStatus: row.tokenStatus as TokenStatus,
    tokenExpiresAt: row.tokenExpiresAt,
    tokenDetail: row.tokenDetail,
    senders: (row.senders ?? []) as unknown as SenderFlag[],
    sendersError: row.sendersError,
    quality: (row.quality ?? []) as unknown as EventQuality[],
    qualityError: row.qualityError,
    qualityAt: row.qualityAt,
  };
}

/** Takes the day's check of a dataset for this process: several web processes and workers run it once. */
async function claim(
  db: Db,
  shopId: string,
  pixelId: string,
  lastCheckedAt: Date | undefined,
  now: Date,
): Promise<boolean> {
  if (lastCheckedAt) {
    const taken = await db.datasetCheck.updateMany({
      where: { shopId, pixelId, checkedAt: lastCheckedAt },
      data: { checkedAt: now },
    });
    return taken.count === 1;
  }
  try {
    await db.datasetCheck.create({
      data: { shopId, pixelId, checkedAt: now, tokenStatus: "unknown" },
    });
    return true;
  } catch {
    // Another process created it first: the check is theirs.
    return false;
  }
}

/** One dataset's check with its own id, token and Graph version (decisions 160). */
async function checkDataset(
  deps: CheckDeps,
  shop: Shop,
  target: Checkable,
  now: Date,
) {
  const { db } = deps;
  const { pixelId } = target;
  const where = { shopId_pixelId: { shopId: shop.id, pixelId } };
  let token: string;
  try {
    token = decryptToken(deps.keyRing, {
      ciphertext: target.tokenCiphertext,
      keyId: target.tokenKeyId!,
    });
  } catch {
    // The dispatcher pauses for a token no key opens (decisions 45); Meta cannot be asked meanwhile.
    return;
  }
  const cfg = deps.graph(target.graphApiVersion);
  const verdict = await checkToken(cfg, pixelId, token, now);
  const data: Prisma.DatasetCheckUpdateInput = {
    tokenStatus: verdict.status,
    tokenExpiresAt: verdict.expiresAt,
    tokenDetail: verdict.detail,
  };
  // Meta's counts and verdict need a token that reaches the dataset.
  if (verdict.status === "ok" || verdict.status === "expiring") {
    const senders = await compareSenders(
      db,
      cfg,
      {
        shopId: shop.id,
        target,
        browserPixel: parseSettings(shop.settings).browserPixel,
      },
      token,
      now,
    );
    data.senders = senders.ok
      ? (senders.flags as unknown as Prisma.InputJsonValue)
      : undefined;
    data.sendersError = senders.ok
      ? null
      : readRefusal(senders.failure, "event statistics", target.own);
    const quality = await datasetQuality(cfg, pixelId, token);
    if (quality.ok) {
      data.quality = quality.value as unknown as Prisma.InputJsonValue;
      data.qualityError = null;
      data.qualityAt = now;
    } else {
      // The last answer stays, with why it could not be read again.
      data.qualityError = readRefusal(
        quality.failure,
        "Dataset Quality API",
        target.own,
      );
    }
  }
  await db.datasetCheck.update({ where, data });
  await warn(deps, shop, target, verdict, now);
}

/** Meta's refusal of a read, in the merchant's words: a missing permission names the permission. */
function readRefusal(
  failure: GraphFailure,
  what: string,
  own: boolean,
): string {
  if (failure.info.kind === "permission")
    return fixFor(
      `The access token lacks the ads_read permission (or ads_management) that Meta's ${what} requires. ` +
        "Sending is not affected. To see Meta's verdict here, generate the System User's token again with " +
        `ads_read ticked and save it on the Connect page. Meta's answer: ${failure.message}`,
      own,
    );
  return `Meta's ${what} could not be read: ${failure.message}`;
}

/** E-mails a token warning once per warning (decisions 126); a token found fine again ends the episode. */
async function warn(
  deps: CheckDeps,
  shop: Shop,
  target: Checkable,
  verdict: TokenVerdict,
  now: Date,
) {
  const { db } = deps;
  const key = warningKey(verdict);
  const { pixelId } = target;
  if (!key) {
    if (verdict.status === "ok")
      await db.datasetCheck.updateMany({
        where: { shopId: shop.id, pixelId, noticeKey: { not: null } },
        data: { noticeKey: null },
      });
    return;
  }
  if (!deps.mailer || !shop.contactEmail) return;
  // The dataset's own pause, not the shop's: each dataset pauses alone (decisions 133).
  if (target.pausedReason && NOTIFIED_PAUSES.has(target.pausedReason)) return;
  const claimed = await db.datasetCheck.updateMany({
    where: {
      shopId: shop.id,
      pixelId,
      OR: [{ noticeKey: null }, { noticeKey: { not: key } }],
    },
    data: { noticeKey: key, noticeSentAt: now },
  });
  if (claimed.count === 0) return;
  try {
    await deps.mailer.send(
      tokenWarningMessage(
        shop,
        target,
        shop.contactEmail,
        verdict,
        deps.adminUrl(shop.domain),
      ),
    );
    deps.log?.(
      `[checks] ${describeTarget(shop, target)}: token warning e-mailed (${key})`,
    );
  } catch (err) {
    // Not retried, as the pause notice: the warning stays in the admin.
    deps.log?.(
      `[checks] ${describeTarget(shop, target)}: the token warning could not be sent: ${(err as Error).message}`,
    );
  }
}
