-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "settingsSavedAt" DATETIME;
ALTER TABLE "Shop" ADD COLUMN "testEventSentAt" DATETIME;
