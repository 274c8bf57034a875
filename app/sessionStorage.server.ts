import { Session } from "@shopify/shopify-app-remix/server";
import { PrismaSessionStorage } from "@shopify/shopify-app-session-storage-prisma";
import type { Db, Prisma } from "./core/db";
import {
  decryptTokenText,
  encryptTokenText,
  isEncryptedText,
  reencryptText,
  TokenDecryptError,
  type KeyRing,
  type SessionRotation,
} from "./core/shops";

// The one writer of the Session table (decisions 56): Shopify's storage below, and what the app's webhooks, shop/redact
// and rotate-key do to the sessions.

/**
 * Shopify's sessions with their tokens encrypted at rest (decisions 46): the Admin API access token and the refresh
 * token are sealed with the Meta tokens' key ring before they are written, and opened when a session is loaded.
 */
export class EncryptedSessionStorage {
  private storage: PrismaSessionStorage<never> | undefined;

  constructor(
    private readonly db: Db,
    /** Read at first use, so a missing production key fails with its own message (`onServerStart`), not at import. */
    private readonly keyRing: () => KeyRing,
  ) {}

  /** Shopify's Prisma storage queries its table as it is made: made on first use, so importing the app opens nothing. */
  private prisma(): PrismaSessionStorage<never> {
    return (this.storage ??= new PrismaSessionStorage(this.db as never));
  }

  async storeSession(session: Session): Promise<boolean> {
    const sealed = new Session({
      ...session.toObject(),
      accessToken: this.seal(session.accessToken),
      refreshToken: this.seal(session.refreshToken),
    });
    try {
      return await this.prisma().storeSession(sealed);
    } catch (error) {
      // The storage's retry on a concurrent insert checks `instanceof` against @prisma/client's default client, which
      // this app never generates (it has one client per provider), so the check itself throws a TypeError.
      if (error instanceof TypeError && /instanceof/.test(error.message))
        return this.prisma().storeSession(sealed);
      throw error;
    }
  }

  async loadSession(id: string): Promise<Session | undefined> {
    const session = await this.prisma().loadSession(id);
    return session && this.open(session);
  }

  deleteSession(id: string): Promise<boolean> {
    return this.prisma().deleteSession(id);
  }

  deleteSessions(ids: string[]): Promise<boolean> {
    return this.prisma().deleteSessions(ids);
  }

  async findSessionsByShop(shop: string): Promise<Session[]> {
    const sessions = await Promise.all(
      (await this.prisma().findSessionsByShop(shop)).map((session) =>
        this.open(session),
      ),
    );
    return sessions.filter((session) => session !== undefined);
  }

  /** Empty values stay empty: the library stores "" for a token it invalidated. */
  private seal(token: string | undefined): string | undefined {
    return token ? encryptTokenText(this.keyRing(), token) : token;
  }

  /**
   * The session with its tokens in clear; undefined when no configured key opens them, so the app asks Shopify for a
   * new token as for a missing session (decisions 47). A row from before encryption is sealed now.
   */
  private async open(session: Session): Promise<Session | undefined> {
    const stored = {
      accessToken: session.accessToken ?? "",
      refreshToken: session.refreshToken ?? null,
    };
    try {
      session.accessToken =
        session.accessToken &&
        decryptTokenText(this.keyRing(), session.accessToken);
      session.refreshToken =
        session.refreshToken &&
        decryptTokenText(this.keyRing(), session.refreshToken);
    } catch (error) {
      if (!(error instanceof TokenDecryptError)) throw error;
      console.warn(
        `[sessions] ${session.id}: ${error.message} It counts as missing: Shopify is asked for a new token.`,
      );
      return undefined;
    }
    if (
      [stored.accessToken, stored.refreshToken].some(
        (token) => token && !isEncryptedText(token),
      )
    ) {
      // Only if the row still holds what was read: a session stored meanwhile is newer.
      await this.db.session.updateMany({
        where: { id: session.id, ...stored },
        data: {
          accessToken: this.seal(session.accessToken) ?? "",
          refreshToken: this.seal(session.refreshToken) ?? null,
        },
      });
    }
    return session;
  }
}

/** Every session of the shop, deleted when awaited or in the caller's transaction (app/uninstalled, shop/redact). */
export function deleteShopSessions(
  db: Db,
  domain: string,
): Prisma.PrismaPromise<Prisma.BatchPayload> {
  return db.session.deleteMany({ where: { shop: domain } });
}

/** app/scopes_update: the offline session's scopes follow the grant. */
export async function recordOfflineScope(
  db: Db,
  domain: string,
  scope: string,
): Promise<void> {
  await db.session.updateMany({
    where: { shop: domain, isOnline: false },
    data: { scope },
  });
}

/**
 * rotate-key (decisions 46): every session's tokens sealed under the ring's current key, those stored in clear
 * before encryption too. A token no key opens is reported and left as it is.
 */
export async function resealSessions(
  db: Db,
  ring: KeyRing,
): Promise<SessionRotation> {
  const report: SessionRotation = { rotated: 0, unchanged: 0, unreadable: [] };
  const sessions = await db.session.findMany({
    select: { id: true, shop: true, accessToken: true, refreshToken: true },
  });
  for (const session of sessions) {
    let accessToken, refreshToken;
    try {
      accessToken = session.accessToken
        ? reencryptText(ring, session.accessToken)
        : null;
      refreshToken = session.refreshToken
        ? reencryptText(ring, session.refreshToken)
        : null;
    } catch (error) {
      if (!(error instanceof TokenDecryptError)) throw error;
      const problem = `Session ${session.id}: ${error.message}`;
      report.unreadable.push({ shop: session.shop, problem });
      continue;
    }
    if (!accessToken && !refreshToken) {
      report.unchanged++;
      continue;
    }
    // Only if the row still holds what was read: a session stored meanwhile is newer.
    const { count } = await db.session.updateMany({
      where: {
        id: session.id,
        accessToken: session.accessToken,
        refreshToken: session.refreshToken,
      },
      data: {
        accessToken: accessToken ?? session.accessToken,
        refreshToken: refreshToken ?? session.refreshToken,
      },
    });
    if (count) report.rotated++;
    else report.unchanged++;
  }
  return report;
}
