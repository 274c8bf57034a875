import type { HeadersFunction, LoaderFunctionArgs } from "@remix-run/node";
import { Link, Outlet, useLoaderData, useRouteError } from "@remix-run/react";
import { boundary } from "@shopify/shopify-app-remix/server";
import { AppProvider } from "@shopify/shopify-app-remix/react";
import { NavMenu } from "@shopify/app-bridge-react";
import { PolarisStyles } from "../components/PolarisStyles";

import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop } from "../core/shops";
import { reconcileWebPixel } from "../webPixel.server";

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session, admin } = await authenticate.admin(request);
  await reconcileWebPixel(
    await ensureShop(prisma, session.shop),
    admin.graphql,
  );
  return { apiKey: process.env.SHOPIFY_API_KEY || "" };
};

export default function App() {
  const { apiKey } = useLoaderData<typeof loader>();
  return (
    <AppProvider isEmbeddedApp apiKey={apiKey}>
      <PolarisStyles />
      <NavMenu>
        <Link to="/app" rel="home">
          Home
        </Link>
        <Link to="/app/connect">Connect Meta</Link>
        <Link to="/app/destinations">Destinations</Link>
        <Link to="/app/settings">Settings</Link>
        <Link to="/app/events">Event log</Link>
        <Link to="/app/plans">Plans</Link>
      </NavMenu>
      <Outlet />
    </AppProvider>
  );
}

// Shopify needs Remix to catch some thrown responses, so that their headers are included in the response.
export function ErrorBoundary() {
  return boundary.error(useRouteError());
}

export const headers: HeadersFunction = (headersArgs) =>
  boundary.headers(headersArgs);
