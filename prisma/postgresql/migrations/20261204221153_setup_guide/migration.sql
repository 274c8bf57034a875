-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "settingsSavedAt" TIMESTAMP(3),
ADD COLUMN     "testEventSentAt" TIMESTAMP(3);
