import type { Db, Prisma, Shop } from "../db";
import {
  datasetQuality,
  type EventQuality,
  type GraphConfig,
  type GraphFailure,
} from "../meta";
import { decryptToken, type KeyRing } from "../shops";
import type { Mailer } from "../delivery";
import { parseSettings } from "../reference";
import {
  checkToken,
  tokenWarningMessage,
  warningKey,
  type TokenStatus,
  type TokenVerdict,
} from "./tokenCheck";
import { compareSenders, type SenderFlag } from "./senders";

// Meta's view of each connected dataset, read back once a day and on demand (decisions 126-129), and the one writer
// of the DatasetCheck table. A check never changes sending: the dispatcher still pauses on a failed send.

export interface CheckDeps {
  db: Db;
  keyRing: KeyRing;
  graph: (shop: Shop) => GraphConfig;
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

/** Runs the check of every connected dataset whose last one is a day old, or older than its connection. */
export async function runDueChecks(deps: CheckDeps, now = new Date()) {
  const shops = await deps.db.shop.findMany({
    where: {
      uninstalledAt: null,
      pixelId: { not: null },
      tokenCiphertext: { not: null },
    },
    include: { datasetChecks: { select: { pixelId: true, checkedAt: true } } },
  });
  let ran = 0;
  for (const { datasetChecks, ...shop } of shops) {
    const last = datasetChecks.find((c) => c.pixelId === shop.pixelId);
    const due =
      !last ||
      last.checkedAt.getTime() <= now.getTime() - CHECK_EVERY_MS ||
      (shop.connectedAt !== null && last.checkedAt < shop.connectedAt);
    if (!due || !(await claim(deps.db, shop, last?.checkedAt ?? null, now)))
      continue;
    await checkDataset(deps, shop, now).catch((err: Error) =>
      deps.log?.(`[checks] ${shop.domain}: ${err.message}`),
    );
    ran++;
  }
  return ran;
}

/** The admin's "Check now": runs at once, whatever the last check's age. */
export async function checkNow(
  deps: CheckDeps,
  shopId: string,
  now = new Date(),
): Promise<DatasetCheckView | null> {
  const shop = await deps.db.shop.findUnique({ where: { id: shopId } });
  if (!shop?.pixelId || !shop.tokenCiphertext) return null;
  await deps.db.datasetCheck.upsert({
    where: { shopId_pixelId: { shopId, pixelId: shop.pixelId } },
    create: {
      shopId,
      pixelId: shop.pixelId,
      checkedAt: now,
      tokenStatus: "unknown",
    },
    update: { checkedAt: now },
  });
  await checkDataset(deps, shop, now);
  return readDatasetCheck(deps.db, shop);
}

export async function readDatasetCheck(
  db: Db,
  shop: Pick<Shop, "id" | "pixelId">,
): Promise<DatasetCheckView | null> {
  if (!shop.pixelId) return null;
  const row = await db.datasetCheck.findUnique({
    where: { shopId_pixelId: { shopId: shop.id, pixelId: shop.pixelId } },
  });
  if (!row) return null;
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
  shop: Shop,
  lastCheckedAt: Date | null,
  now: Date,
): Promise<boolean> {
  const pixelId = shop.pixelId!;
  if (lastCheckedAt) {
    const taken = await db.datasetCheck.updateMany({
      where: { shopId: shop.id, pixelId, checkedAt: lastCheckedAt },
      data: { checkedAt: now },
    });
    return taken.count === 1;
  }
  try {
    await db.datasetCheck.create({
      data: {
        shopId: shop.id,
        pixelId,
        checkedAt: now,
        tokenStatus: "unknown",
      },
    });
    return true;
  } catch {
    // Another process created it first: the check is theirs.
    return false;
  }
}

async function checkDataset(deps: CheckDeps, shop: Shop, now: Date) {
  const { db } = deps;
  const pixelId = shop.pixelId!;
  const where = { shopId_pixelId: { shopId: shop.id, pixelId } };
  let token: string;
  try {
    token = decryptToken(deps.keyRing, {
      ciphertext: shop.tokenCiphertext!,
      keyId: shop.tokenKeyId!,
    });
  } catch {
    // The dispatcher pauses for a token no key opens (decisions 45); Meta cannot be asked meanwhile.
    return;
  }
  const cfg = deps.graph(shop);
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
        id: shop.id,
        pixelId,
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
      : readRefusal(senders.failure, "event statistics");
    const quality = await datasetQuality(cfg, pixelId, token);
    if (quality.ok) {
      data.quality = quality.value as unknown as Prisma.InputJsonValue;
      data.qualityError = null;
      data.qualityAt = now;
    } else {
      // The last answer stays, with why it could not be read again.
      data.qualityError = readRefusal(quality.failure, "Dataset Quality API");
    }
  }
  await db.datasetCheck.update({ where, data });
  await warn(deps, shop, verdict, now);
}

/** Meta's refusal of a read, in the merchant's words: a missing permission names the permission. */
function readRefusal(failure: GraphFailure, what: string): string {
  if (failure.info.kind === "permission")
    return (
      `The access token lacks the ads_read permission (or ads_management) that Meta's ${what} requires. ` +
      "Sending is not affected. To see Meta's verdict here, generate the System User's token again with " +
      `ads_read ticked and save it on the Connect page. Meta's answer: ${failure.message}`
    );
  return `Meta's ${what} could not be read: ${failure.message}`;
}

/** E-mails a token warning once per warning (decisions 126); a token found fine again ends the episode. */
async function warn(
  deps: CheckDeps,
  shop: Shop,
  verdict: TokenVerdict,
  now: Date,
) {
  const { db } = deps;
  const key = warningKey(verdict);
  const pixelId = shop.pixelId!;
  if (!key) {
    if (verdict.status === "ok")
      await db.datasetCheck.updateMany({
        where: { shopId: shop.id, pixelId, noticeKey: { not: null } },
        data: { noticeKey: null },
      });
    return;
  }
  if (!deps.mailer || !shop.contactEmail) return;
  if (shop.pausedReason && NOTIFIED_PAUSES.has(shop.pausedReason)) return;
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
        { id: pixelId, name: shop.pixelName },
        shop.contactEmail,
        verdict,
        deps.adminUrl(shop.domain),
      ),
    );
    deps.log?.(`[checks] ${shop.domain}: token warning e-mailed (${key})`);
  } catch (err) {
    // Not retried, as the pause notice: the warning stays in the admin.
    deps.log?.(
      `[checks] ${shop.domain}: the token warning could not be sent: ${(err as Error).message}`,
    );
  }
}
