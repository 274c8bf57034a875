-- DropIndex
DROP INDEX "OutboxEvent_shopId_status_nextAttemptAt_idx";
