-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN "currency" TEXT;
ALTER TABLE "OutboxEvent" ADD COLUMN "orderSource" TEXT;
ALTER TABLE "OutboxEvent" ADD COLUMN "value" REAL;
