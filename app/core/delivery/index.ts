// Sending the outbox to Meta: the dispatcher (batches, retries, pause, bisection) and the pause notice.
// Other folders import this face only.

export { Dispatcher } from "./dispatcher";
export { datasetLabel, explainPause, fixFor, notifyPause } from "./pauseNotice";
export type { Mailer, MailMessage } from "./pauseNotice";
