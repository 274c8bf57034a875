import { remixRoute } from "../http/routes.server";

// `npm run dev`: an adapter of the route table (app/http/routes.server.ts), which the production server serves itself.
export const action = remixRoute("/webhooks/customers/redact");
export const loader = action;
