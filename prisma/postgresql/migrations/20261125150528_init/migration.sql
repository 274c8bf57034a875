-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL,
    "shop" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "isOnline" BOOLEAN NOT NULL DEFAULT false,
    "scope" TEXT,
    "expires" TIMESTAMP(3),
    "accessToken" TEXT NOT NULL,
    "userId" BIGINT,
    "firstName" TEXT,
    "lastName" TEXT,
    "email" TEXT,
    "accountOwner" BOOLEAN NOT NULL DEFAULT false,
    "locale" TEXT,
    "collaborator" BOOLEAN DEFAULT false,
    "emailVerified" BOOLEAN DEFAULT false,
    "refreshToken" TEXT,
    "refreshTokenExpires" TIMESTAMP(3),

    CONSTRAINT "Session_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Shop" (
    "id" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "scope" TEXT,
    "installedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "uninstalledAt" TIMESTAMP(3),
    "pixelId" TEXT,
    "pixelName" TEXT,
    "tokenCiphertext" TEXT,
    "tokenKeyId" TEXT,
    "tokenLast4" TEXT,
    "connectedAt" TIMESTAMP(3),
    "testEventCode" TEXT,
    "testEventCodeSetAt" TIMESTAMP(3),
    "graphApiVersion" TEXT,
    "settings" JSONB NOT NULL,
    "ingestKey" TEXT NOT NULL,
    "webPixelId" TEXT,
    "webPixelSyncedAt" TIMESTAMP(3),
    "webPixelError" TEXT,
    "pausedReason" TEXT,
    "pausedDetail" TEXT,
    "pausedAt" TIMESTAMP(3),
    "pauseNotifiedAt" TIMESTAMP(3),
    "sendNotBefore" TIMESTAMP(3),
    "lastDeliveryAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Shop_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OutboxEvent" (
    "id" TEXT NOT NULL,
    "shopId" TEXT NOT NULL,
    "eventName" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "suppressReason" TEXT,
    "actionSource" TEXT NOT NULL,
    "eventTime" TIMESTAMP(3) NOT NULL,
    "payload" JSONB NOT NULL,
    "clientIp" TEXT,
    "clientUserAgent" TEXT,
    "countryCode" TEXT,
    "provinceCode" TEXT,
    "consent" JSONB,
    "lduApplied" BOOLEAN NOT NULL DEFAULT false,
    "orderId" TEXT,
    "orderName" TEXT,
    "checkoutToken" TEXT,
    "customerKey" TEXT,
    "emailHash" TEXT,
    "phoneHash" TEXT,
    "holdUntil" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "ambiguousSends" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leaseOwner" TEXT,
    "leaseUntil" TIMESTAMP(3),
    "lastErrorCode" INTEGER,
    "lastErrorSubcode" INTEGER,
    "lastErrorMessage" TEXT,
    "lastFbtraceId" TEXT,
    "metaResponse" JSONB,
    "browserSeenAt" TIMESTAMP(3),
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "releasedAt" TIMESTAMP(3),
    "sentAt" TIMESTAMP(3),
    "finalAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "BrowserContext" (
    "id" TEXT NOT NULL,
    "shopId" TEXT NOT NULL,
    "checkoutToken" TEXT NOT NULL,
    "orderId" TEXT,
    "fbp" TEXT,
    "fbc" TEXT,
    "clientIp" TEXT,
    "clientUserAgent" TEXT,
    "eventSourceUrl" TEXT,
    "consent" JSONB,
    "customerKey" TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "usedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "BrowserContext_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookReceipt" (
    "id" TEXT NOT NULL,
    "webhookId" TEXT NOT NULL,
    "shopDomain" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "reason" TEXT,
    "orderId" TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookReceipt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DataRequest" (
    "id" TEXT NOT NULL,
    "shopId" TEXT NOT NULL,
    "requestId" TEXT NOT NULL,
    "customerKey" TEXT,
    "report" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DataRequest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DispatcherHeartbeat" (
    "id" TEXT NOT NULL,
    "beatAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "DispatcherHeartbeat_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Session_shop_idx" ON "Session"("shop");

-- CreateIndex
CREATE UNIQUE INDEX "Shop_domain_key" ON "Shop"("domain");

-- CreateIndex
CREATE UNIQUE INDEX "Shop_ingestKey_key" ON "Shop"("ingestKey");

-- CreateIndex
CREATE INDEX "OutboxEvent_status_nextAttemptAt_idx" ON "OutboxEvent"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_status_idx" ON "OutboxEvent"("shopId", "status");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_receivedAt_idx" ON "OutboxEvent"("shopId", "receivedAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_checkoutToken_idx" ON "OutboxEvent"("shopId", "checkoutToken");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_orderId_idx" ON "OutboxEvent"("shopId", "orderId");

-- CreateIndex
CREATE INDEX "OutboxEvent_status_holdUntil_idx" ON "OutboxEvent"("status", "holdUntil");

-- CreateIndex
CREATE UNIQUE INDEX "OutboxEvent_shopId_eventName_eventId_key" ON "OutboxEvent"("shopId", "eventName", "eventId");

-- CreateIndex
CREATE INDEX "BrowserContext_receivedAt_idx" ON "BrowserContext"("receivedAt");

-- CreateIndex
CREATE UNIQUE INDEX "BrowserContext_shopId_checkoutToken_key" ON "BrowserContext"("shopId", "checkoutToken");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookReceipt_webhookId_key" ON "WebhookReceipt"("webhookId");

-- CreateIndex
CREATE INDEX "WebhookReceipt_shopDomain_receivedAt_idx" ON "WebhookReceipt"("shopDomain", "receivedAt");

-- CreateIndex
CREATE INDEX "WebhookReceipt_shopDomain_outcome_idx" ON "WebhookReceipt"("shopDomain", "outcome");

-- CreateIndex
CREATE UNIQUE INDEX "DataRequest_shopId_requestId_key" ON "DataRequest"("shopId", "requestId");

-- AddForeignKey
ALTER TABLE "OutboxEvent" ADD CONSTRAINT "OutboxEvent_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "BrowserContext" ADD CONSTRAINT "BrowserContext_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DataRequest" ADD CONSTRAINT "DataRequest_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
