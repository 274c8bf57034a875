-- CreateTable
CREATE TABLE "PlanSubscription" (
    "shopId" TEXT NOT NULL,
    "subscriptionId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    "receivedAt" DATETIME NOT NULL,

    PRIMARY KEY ("shopId", "subscriptionId"),
    CONSTRAINT "PlanSubscription_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
