import prisma from "../db.server";

// Liveness for load balancers and operators: database reachability and the dispatchers' last heartbeat. No secrets.
export const loader = async () => {
  let database = "ok";
  let lastHeartbeat: Date | null = null;
  try {
    const beat = await prisma.dispatcherHeartbeat.findFirst({
      orderBy: { beatAt: "desc" },
    });
    lastHeartbeat = beat?.beatAt ?? null;
  } catch {
    database = "unreachable";
  }
  const ageSeconds = lastHeartbeat
    ? Math.round((Date.now() - lastHeartbeat.getTime()) / 1000)
    : null;
  return Response.json(
    {
      status: database === "ok" ? "ok" : "degraded",
      database,
      dispatcher: { lastHeartbeat, ageSeconds },
    },
    {
      status: database === "ok" ? 200 : 503,
      headers: { "Cache-Control": "no-store" },
    },
  );
};
