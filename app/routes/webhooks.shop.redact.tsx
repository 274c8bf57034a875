import type { ActionFunctionArgs } from "@remix-run/node";
import { handlePrivacyWebhook } from "../webhooks.server";

export const action = ({ request }: ActionFunctionArgs) => handlePrivacyWebhook(request);
