/** Why a delivery bounced or was deferred (CONTRACT.md); the one list of categories. */
export const categories = [
  "bad-mailbox",
  "bad-domain",
  "inactive-mailbox",
  "mailbox-full",
  "policy",
  "spam-related",
  "content",
  "routing",
  "protocol",
  "transient",
  "other"
] as const
export type Category = typeof categories[number]

/** Categories that say the address itself is no good: such a bounce suppresses it. */
export const suppresses = (category: Category): boolean => category === "bad-mailbox" || category === "bad-domain"
