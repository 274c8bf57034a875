import type { ActionFunctionArgs } from "@remix-run/node";
import { handleOrderWebhook, toResponse, webhookRequest } from "../webhooks.server";

export const action = async ({ request }: ActionFunctionArgs) => toResponse(await handleOrderWebhook(await webhookRequest(request), "orders/create"));
