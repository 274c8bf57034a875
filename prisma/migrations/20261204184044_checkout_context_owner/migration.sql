-- AlterTable
ALTER TABLE "BrowserContext" ADD COLUMN "clientId" TEXT;
