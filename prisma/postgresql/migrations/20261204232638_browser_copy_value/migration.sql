-- AlterTable
ALTER TABLE "BrowserContext" ADD COLUMN     "currency" TEXT,
ADD COLUMN     "value" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "browserCurrency" TEXT,
ADD COLUMN     "browserValue" DOUBLE PRECISION;
