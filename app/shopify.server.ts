import "@shopify/shopify-app-remix/adapters/node";
import {
  ApiVersion,
  AppDistribution,
  shopifyApp,
  type Session,
} from "@shopify/shopify-app-remix/server";
import { PrismaSessionStorage } from "@shopify/shopify-app-session-storage-prisma";
import prisma from "./db.server";
import { onInstalled } from "./shops.server";

/**
 * The storage's retry on a concurrent insert checks `instanceof` against @prisma/client's default client, which this
 * app never generates (it has one client per provider), so the check itself throws a TypeError: retry once then.
 */
class SessionStorage extends PrismaSessionStorage<never> {
  async storeSession(session: Session): Promise<boolean> {
    try {
      return await super.storeSession(session);
    } catch (error) {
      if (error instanceof TypeError && /instanceof/.test(error.message)) return super.storeSession(session);
      throw error;
    }
  }
}

/** The app's client secret: it signs webhooks (order webhooks are verified with it in webhookSignature.server.ts). */
export const apiSecretKey = process.env.SHOPIFY_API_SECRET || "";

// The one Shopify configuration of the app (template convention).
const shopify = shopifyApp({
  apiKey: process.env.SHOPIFY_API_KEY,
  apiSecretKey,
  apiVersion: ApiVersion.October26,
  scopes: process.env.SCOPES?.split(","),
  appUrl: process.env.SHOPIFY_APP_URL || "",
  authPathPrefix: "/auth",
  // The generated clients are per provider; both have the `session` model the storage needs.
  sessionStorage: new SessionStorage(prisma as never),
  distribution: AppDistribution.AppStore,
  future: {
    unstable_newEmbeddedAuthStrategy: true,
  },
  hooks: {
    // Runs after OAuth / token exchange: register the shop and create or update its web pixel.
    afterAuth: async ({ session, admin }) => {
      await onInstalled(session.shop, session.scope ?? null, admin.graphql);
    },
  },
  ...(process.env.SHOP_CUSTOM_DOMAIN
    ? { customShopDomains: [process.env.SHOP_CUSTOM_DOMAIN] }
    : {}),
});

export default shopify;
export const apiVersion = ApiVersion.October26;
export const addDocumentResponseHeaders = shopify.addDocumentResponseHeaders;
export const authenticate = shopify.authenticate;
export const unauthenticated = shopify.unauthenticated;
export const login = shopify.login;
export const registerWebhooks = shopify.registerWebhooks;
export const sessionStorage = shopify.sessionStorage;
