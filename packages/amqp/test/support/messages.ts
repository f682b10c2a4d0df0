import type { NewMessage } from "@sluice/engine"

/** Message number `n` of a test: one recipient, a tiny body that names it. */
export const message = (n: number, extra: Partial<NewMessage> = {}): NewMessage => ({
  from: "sender@example.com",
  to: [`r${n}@example.net`],
  content: new TextEncoder().encode(`Subject: ${n}\r\n\r\nbody ${n}\r\n`),
  stream: "default",
  ...extra
})
