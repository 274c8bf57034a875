-- CreateIndex
CREATE INDEX "OutboxEvent_status_eventTime_idx" ON "OutboxEvent"("status", "eventTime");
