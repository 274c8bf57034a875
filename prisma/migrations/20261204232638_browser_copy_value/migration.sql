-- AlterTable
ALTER TABLE "BrowserContext" ADD COLUMN "currency" TEXT;
ALTER TABLE "BrowserContext" ADD COLUMN "value" REAL;

-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN "browserCurrency" TEXT;
ALTER TABLE "OutboxEvent" ADD COLUMN "browserValue" REAL;
