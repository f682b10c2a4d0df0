import type { NewMessage } from "@sluice/engine"
import { messageId } from "@sluice/engine"

/**
 * Message number `n` of a test: one recipient, a tiny body that names it, and an id of its own as the
 * engine mints them at submit (a broker and its status store outlive a test run).
 */
export const message = (n: number, extra: Partial<NewMessage> = {}): NewMessage => ({
  id: messageId(Date.now()),
  from: "sender@example.com",
  to: [`r${n}@example.net`],
  content: new TextEncoder().encode(`Subject: ${n}\r\n\r\nbody ${n}\r\n`),
  stream: "default",
  ...extra
})
