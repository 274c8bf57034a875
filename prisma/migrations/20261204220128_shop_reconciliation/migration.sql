-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "backfill" JSONB;
ALTER TABLE "Shop" ADD COLUMN "reconcileError" TEXT;
ALTER TABLE "Shop" ADD COLUMN "reconcileLeaseUntil" DATETIME;
ALTER TABLE "Shop" ADD COLUMN "reconciledAt" DATETIME;
ALTER TABLE "Shop" ADD COLUMN "reconciledThrough" DATETIME;
