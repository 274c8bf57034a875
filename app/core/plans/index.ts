// The app's plans and a shop's monthly order volume against them (decisions 118-121).
// Other folders import this face only.

export {
  FREE_PLAN,
  PAID_PLANS,
  PLANS,
  monthStart,
  ordersThisMonth,
  planNamed,
  usageOf,
} from "./plans";
export type { Plan, PlanUsage } from "./plans";
export {
  parseSubscriptionUpdate,
  recordSubscription,
  recordedPlan,
} from "./subscriptions";
export type { RecordedPlan, SubscriptionUpdate } from "./subscriptions";
