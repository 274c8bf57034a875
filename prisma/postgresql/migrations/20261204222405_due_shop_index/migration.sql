-- DropIndex
DROP INDEX "OutboxEvent_status_nextAttemptAt_idx";

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_status_nextAttemptAt_idx" ON "OutboxEvent"("shopId", "status", "nextAttemptAt");
