-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "sentWithIp" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "sentWithUserAgent" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_status_receivedAt_idx" ON "OutboxEvent"("shopId", "status", "receivedAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_eventName_receivedAt_idx" ON "OutboxEvent"("shopId", "eventName", "receivedAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_orderName_idx" ON "OutboxEvent"("shopId", "orderName");
