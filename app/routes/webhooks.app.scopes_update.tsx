import type { ActionFunctionArgs } from "@remix-run/node";
import { handleAppWebhook } from "../webhooks.server";

export const action = ({ request }: ActionFunctionArgs) => handleAppWebhook(request);
