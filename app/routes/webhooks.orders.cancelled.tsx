import type { ActionFunctionArgs } from "@remix-run/node";
import { handleOrderWebhook } from "../webhooks.server";

export const action = ({ request }: ActionFunctionArgs) => handleOrderWebhook(request, "orders/cancelled");
