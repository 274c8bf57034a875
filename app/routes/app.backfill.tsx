import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop, requestBackfill, type Backfill } from "../core/shops";
import { isConnected } from "../core/outbox";

// The merchant's "send the last 7 days" (decisions 78, 79): the action asks for it, the reconciler in the
// dispatcher's process runs it, and the page polls this loader for the progress it records.

export interface BackfillState {
  connected: boolean;
  backfill: Backfill | null;
}

export const loader = async ({
  request,
}: LoaderFunctionArgs): Promise<BackfillState> => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  return {
    connected: isConnected(shop),
    backfill: shop.backfill as Backfill | null,
  };
};

export const action = async ({ request }: ActionFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  // Only a connected shop is reconciled: a request before Connect would wait for nothing.
  if (!isConnected(shop))
    return Response.json(
      {
        error:
          "Connect your Meta dataset first: then recent orders can be sent.",
      },
      { status: 400 },
    );
  return {
    connected: true,
    backfill: await requestBackfill(prisma, shop, new Date()),
  } satisfies BackfillState;
};
