import "@shopify/shopify-app-remix/adapters/node";
import {
  AppDistribution,
  BillingInterval,
  shopifyApp,
} from "@shopify/shopify-app-remix/server";
import { PAID_PLANS } from "./core/plans";
import prisma from "./db.server";
import { keyRing } from "./runtime.server";
import { EncryptedSessionStorage } from "./sessionStorage.server";
import { onInstalled } from "./shops.server";
import { ADMIN_API_VERSION } from "./reconcile.server";

/** The app's client secret: it signs webhooks (order webhooks are verified with it in webhookSignature.server.ts). */
export const apiSecretKey = process.env.SHOPIFY_API_SECRET || "";

// The one Shopify configuration of the app (template convention).
const shopify = shopifyApp({
  apiKey: process.env.SHOPIFY_API_KEY,
  apiSecretKey,
  apiVersion: ADMIN_API_VERSION,
  scopes: process.env.SCOPES?.split(","),
  appUrl: process.env.SHOPIFY_APP_URL || "",
  authPathPrefix: "/auth",
  // The generated clients are per provider; both have the `session` model the storage needs.
  sessionStorage: new EncryptedSessionStorage(prisma, keyRing),
  distribution: AppDistribution.AppStore,
  // The paid plans as Shopify Billing charges them: a recurring charge every 30 days (decisions 118).
  billing: Object.fromEntries(
    PAID_PLANS.map((plan) => [
      plan.name,
      {
        lineItems: [
          {
            amount: plan.price,
            currencyCode: "USD",
            interval: BillingInterval.Every30Days as const,
          },
        ],
      },
    ]),
  ),
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
export const apiVersion = ADMIN_API_VERSION;
export const addDocumentResponseHeaders = shopify.addDocumentResponseHeaders;
export const authenticate = shopify.authenticate;
export const unauthenticated = shopify.unauthenticated;
export const login = shopify.login;
export const registerWebhooks = shopify.registerWebhooks;
export const sessionStorage = shopify.sessionStorage;
