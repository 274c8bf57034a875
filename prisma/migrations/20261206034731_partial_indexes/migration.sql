-- DropIndex
DROP INDEX "OutboxEvent_shopId_orderName_idx";

-- DropIndex
DROP INDEX "OutboxEvent_status_holdUntil_idx";

-- DropIndex
DROP INDEX "OutboxEvent_shopId_orderId_idx";

-- DropIndex
DROP INDEX "OutboxEvent_shopId_checkoutToken_idx";

-- Partial indexes, of the rows that have the column (decisions 185): Prisma 6 does not describe them, so they are
-- created here rather than from schema.prisma. Each query on these columns compares the column, which implies
-- it is not null, so the planner can use them.
CREATE INDEX "OutboxEvent_shopId_checkoutToken_partial" ON "OutboxEvent"("shopId", "checkoutToken") WHERE "checkoutToken" IS NOT NULL;
CREATE INDEX "OutboxEvent_shopId_orderId_partial" ON "OutboxEvent"("shopId", "orderId") WHERE "orderId" IS NOT NULL;
CREATE INDEX "OutboxEvent_shopId_orderName_partial" ON "OutboxEvent"("shopId", "orderName") WHERE "orderName" IS NOT NULL;
CREATE INDEX "OutboxEvent_status_holdUntil_partial" ON "OutboxEvent"("status", "holdUntil") WHERE "holdUntil" IS NOT NULL;
