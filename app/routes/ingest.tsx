import { remixRoute } from "../http/routes.server";

// POST /ingest, the web pixel's endpoint (app/http/ingest.server.ts). `npm run dev`: an adapter of the route table
// (app/http/routes.server.ts), which the production server serves itself.
export const action = remixRoute("/ingest");
export const loader = action;
