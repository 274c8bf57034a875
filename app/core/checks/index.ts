// Meta's view of each connected dataset, read back daily and on demand: the token's validity and expiry, another
// sender on the same dataset, Meta's quality verdict. The one writer of the DatasetCheck table.
// Other folders import this face only.

export {
  checkNow,
  readDatasetCheck,
  readDatasetChecks,
  runDueChecks,
} from "./checks";
export type { CheckDeps, DatasetCheckView } from "./checks";
export { EXPIRY_WARNING_DAYS } from "./tokenCheck";
export type { TokenStatus } from "./tokenCheck";
export { SECOND_SENDER } from "./senders";
export type { SenderFlag } from "./senders";
